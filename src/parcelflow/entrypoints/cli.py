"""`parcelflow <command>`: the one way to start every process.

This module only composes: each `*_cli` module exports its own Typer app (commands, or a
group such as `exceptions`), and what they share is in `cli_support`. None of them
imports this one, so each can be imported (and tested) on its own.
"""

from __future__ import annotations

import sys

import typer

from parcelflow.entrypoints import (
    audit_cli,
    claims_cli,
    complaints_cli,
    demo_cli,
    eta_cli,
    detect_cli,
    exceptions_cli,
    followups_cli,
    ingest_cli,
    keys_cli,
    reports_cli,
    serve_cli,
    shards_cli,
    views_cli,
    workers_cli,
)
from parcelflow.logs import configure_logging
from parcelflow.settings import get_settings

app = typer.Typer(
    help="parcelflow: an event-sourced parcel lifecycle and exception tracker.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _setup() -> None:
    from parcelflow.runtime import tune_gc

    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    tune_gc()


# In the order `parcelflow --help` lists them: data in, audit, a demo day, read models,
# exception work, the long-running workers, the service surface.
for commands in (ingest_cli.app, audit_cli.app, demo_cli.app, views_cli.app, detect_cli.app,
                 eta_cli.app, reports_cli.app, workers_cli.app, serve_cli.app):
    app.add_typer(commands)  # no name: its commands become top-level commands
app.add_typer(exceptions_cli.app, name="exceptions")
app.add_typer(complaints_cli.app, name="complaints")
app.add_typer(followups_cli.app, name="followups")
app.add_typer(claims_cli.app, name="claims")
app.add_typer(keys_cli.app, name="keys")
app.add_typer(shards_cli.app, name="shards")
app.add_typer(audit_cli.export_app, name="export")
app.add_typer(audit_cli.correct_app, name="correct")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
