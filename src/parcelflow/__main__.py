from parcelflow.entrypoints.cli import main

main()
