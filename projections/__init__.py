"""Read models built from the event store: installed as parcelflow.projections."""
