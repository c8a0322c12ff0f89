"""`parcelflow simulate` and `parcelflow demo`: a realistic network day, as files or told."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from parcelflow.entrypoints.cli_support import out, service
from parcelflow.settings import get_settings

app = typer.Typer()


@app.command()
def simulate(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the files.")] = Path(
        "simulation"),
    parcels: Annotated[int, typer.Option(min=1, max=1_000_000)] = 3000,
    seed: int = 7,
    hours: Annotated[float, typer.Option(help="Parcels are booked over this many hours.")] = 36,
) -> None:
    """Write a realistic manifest and scan stream (JSON Lines) for a network day."""
    from parcelflow.application.service import utcnow
    from parcelflow.bootstrap import load_network
    from parcelflow.simulation import simulate as run

    sim = run(load_network(get_settings().network_file), parcels=parcels, now=utcnow(),
              seed=seed, hours=hours)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, rows in (("manifests.jsonl", sim.manifests), ("scans.jsonl", sim.scans),
                       ("manifests-late.jsonl", sim.late_manifests)):
        with (out_dir / name).open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    out.print(f"wrote {len(sim.manifests)} manifests, {len(sim.scans)} scans and "
              f"{len(sim.late_manifests)} late manifests to {out_dir}/")
    out.print(f"next: parcelflow register {out_dir}/manifests.jsonl && "
              f"parcelflow ingest {out_dir}/scans.jsonl && "
              f"parcelflow register {out_dir}/manifests-late.jsonl")


@app.command()
def demo(
    parcels: Annotated[int, typer.Option(min=10, max=100_000)] = 2000,
    seed: Annotated[Optional[int], typer.Option(help="Fix the randomness.")] = None,
) -> None:
    """Simulate a network day on the configured store and show what happened."""
    from parcelflow.entrypoints.demo import run_demo

    run_demo(service(), parcels=parcels, seed=seed, console=out)
