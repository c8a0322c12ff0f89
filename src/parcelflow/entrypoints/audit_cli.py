"""CLI commands for auditors and regulators: checkpoints, their key, EPCIS export.

(`history` and `verify` are in cli.py.)
"""

from __future__ import annotations

import json
import threading
from typing import Annotated, Any, Optional

import typer

from parcelflow.entrypoints.cli import JsonFlag, err, fail, out, service
from parcelflow.entrypoints.running import until_signalled
from parcelflow.settings import get_settings

ToOption = Annotated[Optional[list[str]], typer.Option(
    "--to", help="Also write each checkpoint here: file:PATH (appended, synced), kafka (the "
    "checkpoints topic) or stdout; repeatable.")]


def checkpoint(
    every: Annotated[Optional[float], typer.Option(
        "--every", min=1, help="Keep making one every SECONDS (when the log moved).")] = None,
    to: ToOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Commit to every parcel's chain head in a signed Merkle-tree checkpoint."""
    from parcelflow.adapters.checkpoint_sinks import KafkaSink, sinks_for
    from parcelflow.adapters.leader import LeaderLock
    from parcelflow.adapters.signing import KeyFormatError
    from parcelflow.application.checkpoints import CheckpointError, Made
    from parcelflow.bootstrap import build_checkpoints

    settings = get_settings()

    def kafka_sink() -> KafkaSink:
        from parcelflow.adapters import kafka

        if not settings.kafka_bootstrap_servers:
            fail("--to kafka needs PARCELFLOW_KAFKA_BOOTSTRAP_SERVERS", 2)
        kafka.ensure_topics(settings, [settings.kafka_checkpoints_topic])
        return KafkaSink(kafka.producer(settings, client_id="parcelflow-checkpoint"),
                         settings.kafka_checkpoints_topic, settings.kafka_send_timeout)

    try:
        sinks = sinks_for(to or [], kafka_sink)
        checkpoints, _ = build_checkpoints(service(), settings)
    except (ValueError, KeyFormatError) as e:
        fail(str(e), 2)
    checkpoints.sinks = sinks

    def report(made: Made) -> None:
        cp = made.stored.checkpoint
        if as_json:
            print(json.dumps({"id": made.stored.id, "new": made.new, "tree_size": cp.tree_size,
                              "root": cp.root.hex(), "position": cp.position,
                              "made_at": cp.made_at.isoformat(), "changed": made.changed,
                              "refused": [{"tracking_no": n, "version": link.version,
                                           "reason": link.reason}
                                          for n, link in made.refused]}), flush=True)
        else:
            what = "checkpoint" if made.new else "unchanged since checkpoint"
            err.print(f"{what} {made.stored.id}: {cp.tree_size} parcels at log position "
                      f"{cp.position}, root {cp.root.hex()[:16]}…, {made.changed} heads moved",
                      highlight=False)
            for number, link in made.refused:
                err.print(f"REFUSED {number} event {link.version}: {link.reason} (its earlier "
                          "anchor stands)", highlight=False)

    stop = until_signalled(settings, "checkpoint") if every else threading.Event()
    # One checkpointer at a time: two would race for the next checkpoint's number.
    lock = LeaderLock(settings.database_url, "checkpoint")
    if not lock.acquire(stop):
        return
    try:
        if every:
            err.print(f"a checkpoint every {every:g} s (Ctrl-C stops)")
            checkpoints.run(every, stop, report)
        else:
            made = checkpoints.make()
            report(made)
            if made.refused:
                raise typer.Exit(1)
    except CheckpointError as e:
        fail(str(e), 2)
    finally:
        lock.release()
        for sink in sinks:
            sink.close()


def checkpoint_create(
    name: Annotated[str, typer.Option(
        help="The key's name: the checkpoints' origin, e.g. parcelflow.example/checkpoints.")
    ] = "parcelflow/checkpoints",
    as_json: JsonFlag = False,
) -> None:
    """Make a checkpoint signing key (Ed25519): the private key once, and its public key."""
    from parcelflow.adapters.signing import KeyFormatError, NoteSigner

    try:
        signer = NoteSigner.generate(name)
    except KeyFormatError as e:
        fail(str(e), 2)
    if as_json:
        print(json.dumps({"private_key": signer.private_text(),
                          "public_key": signer.verifier_text()}))
        return
    out.print("Keep the private key secret (it is shown once); publish the public key.",
              highlight=False)
    out.print(f"PARCELFLOW_CHECKPOINT_KEY={signer.private_text()}", highlight=False,
              soft_wrap=True)
    out.print(f"PARCELFLOW_CHECKPOINT_PUBLIC_KEY={signer.verifier_text()}", highlight=False,
              soft_wrap=True)


export_app = typer.Typer(help="Hand data over in standard forms.", no_args_is_help=True)


@export_app.command("epcis")
def export_epcis(
    tracking_no: Annotated[Optional[str], typer.Argument(help="One parcel.")] = None,
    start: Annotated[Optional[str], typer.Option(
        "--from", help="Every parcel recorded from this day (YYYY-MM-DD, network time) or "
        "ISO time...")] = None,
    end: Annotated[Optional[str], typer.Option(
        "--to", help="...to this one (exclusive).")] = None,
    jsonl: Annotated[bool, typer.Option(
        "--jsonl", help="One event per line (each with its JSON-LD context) instead of one "
        "EPCISDocument.")] = False,
) -> None:
    """GS1 EPCIS 2.0 (JSON-LD): one ObjectEvent per scan, corrections as error declarations."""
    from parcelflow.application.epcis_export import EpcisExport
    from parcelflow.application.service import ParcelNotFound
    from parcelflow.bootstrap import epcis_identifiers
    from parcelflow.entrypoints.exceptions_cli import _period_bound, _zone

    if bool(tracking_no) == bool(start or end) or bool(start) != bool(end):
        fail("give a TRACKING_NO, or --from DAY --to DAY", 2)
    svc = service()
    export = EpcisExport(svc, epcis_identifiers(svc.network))
    if tracking_no:
        try:
            events = export.parcel(tracking_no)
        except ParcelNotFound as e:
            fail(str(e))
    else:
        zone = _zone(svc)
        low, high = _period_bound(start, zone), _period_bound(end, zone)  # type: ignore[arg-type]
        if jsonl:  # streamed: a period may hold millions of events
            for _, picked in export.recorded_between(low, high):
                for event in picked:
                    print(json.dumps(export.standalone(event), ensure_ascii=False))
            return
        events = [e for _, picked in export.recorded_between(low, high) for e in picked]
    if jsonl:
        for event in events:
            print(json.dumps(export.standalone(event), ensure_ascii=False))
    else:
        print(json.dumps(export.document(events), ensure_ascii=False, indent=1))


correct_app = typer.Typer(help="Correct a recorded scan: nothing is edited, a correction "
                          "event names it, who and why.", no_args_is_help=True)
ByOption = Annotated[str, typer.Option("--by", help="Who makes the correction (kept).")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (kept in the history).")]


def _corrected(call: Any) -> None:
    from parcelflow.application.corrections import CorrectionRefused
    from parcelflow.application.service import ParcelNotFound
    from parcelflow.domain.parcel import DomainError

    try:
        done = call()
    except CorrectionRefused as e:
        fail(str(e), 2)
    except (ParcelNotFound, DomainError) as e:
        fail(str(e))
    out.print(f"{done.tracking_no}: scan {done.scan_id} (event {done.target_version}) "
              f"{'voided' if done.action == 'void' else 'amended'} by event {done.version}",
              highlight=False)


@correct_app.command("void")
def correct_void(tracking_no: str, scan_id: str, by: ByOption, reason: ReasonOption) -> None:
    """The scan did not happen."""
    from parcelflow.application.corrections import Corrections

    svc = service()
    _corrected(lambda: Corrections(svc).void(tracking_no, scan_id, by=by, reason=reason))


@correct_app.command("amend")
def correct_amend(
    tracking_no: str, scan_id: str, by: ByOption, reason: ReasonOption,
    facility: Annotated[Optional[str], typer.Option(help="Where it really was.")] = None,
    occurred_at: Annotated[Optional[str], typer.Option(
        "--occurred-at", help="When it really happened (ISO 8601 with offset).")] = None,
    next_facility: Annotated[Optional[str], typer.Option(
        "--next-facility", help="Where it went next.")] = None,
) -> None:
    """The scan said something else: its facility, time or next facility."""
    from parcelflow.application.corrections import Corrections
    from parcelflow.entrypoints.cli import parse_time

    moment = parse_time(occurred_at) if occurred_at else None
    svc = service()
    _corrected(lambda: Corrections(svc).amend(
        tracking_no, scan_id, by=by, reason=reason, facility=facility, occurred_at=moment,
        next_facility=next_facility))


def rotate_master(
    batch: Annotated[int, typer.Option(min=1, max=100_000, help="Keys per page.")] = 1000,
) -> None:
    """Rewrap every per-parcel data key under PARCELFLOW_PII_MASTER_KEY, from the key(s) in
    PARCELFLOW_PII_MASTER_KEY_PREVIOUS; the other processes keep running meanwhile."""
    from parcelflow.bootstrap import build_service

    settings = get_settings()
    if not settings.pii_master_key or not settings.pii_master_key_previous:
        fail("set PARCELFLOW_PII_MASTER_KEY to the new master key and "
             "PARCELFLOW_PII_MASTER_KEY_PREVIOUS to the one it replaces (on every process "
             "first, so all of them read both while this runs)", 2)
    svc = build_service(settings, cache_size=0)
    done = None
    for done in svc.personal.keys.rewrap(batch):
        err.print(f"  {done.rewrapped} rewrapped, {done.current} already current",
                  highlight=False)
    if done is None:
        out.print("no data keys to rewrap")
        return
    out.print(f"{done.rewrapped} data keys rewrapped under the new master key, {done.current} "
              f"already under it" + (f"; {done.unreadable} under none of the given master keys, "
                                     "left as they were" if done.unreadable else ""),
              highlight=False)
    if done.unreadable:
        raise typer.Exit(1)
    out.print("now remove PARCELFLOW_PII_MASTER_KEY_PREVIOUS from every process")


def register(app: Any) -> None:
    from parcelflow.entrypoints.serve_cli import keys

    app.command()(checkpoint)
    keys.command("checkpoint-create")(checkpoint_create)
    keys.command("rotate-master")(rotate_master)
    app.add_typer(export_app, name="export")
    app.add_typer(correct_app, name="correct")
