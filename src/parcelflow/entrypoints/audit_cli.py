"""What auditors, regulators and data-protection officers run: `parcelflow history`,
`verify`, `checkpoint` and `erase`, and the groups `parcelflow export` (EPCIS 2.0) and
`parcelflow correct` (void or amend a scan).

(The checkpoint signing key and the master-key rotation are `keys` commands: keys_cli.)
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.progress import Progress, TextColumn
from rich.table import Table

from parcelflow.application.errors import ParcelNotFound
from parcelflow.entrypoints.cli_support import (
    JsonFlag,
    TrackingArg,
    err,
    fail,
    out,
    parse_time,
    period_bound,
    print_json,
    service,
    styled,
    tracking_number,
)
from parcelflow.entrypoints.running import until_signalled
from parcelflow.settings import get_settings

if TYPE_CHECKING:  # loaded by the commands that use them
    from parcelflow.application.checkpoints import AuditReport, Made
    from parcelflow.application.corrections import Correction

app = typer.Typer()


def _summary_of(details: dict[str, Any]) -> str:
    if "scan_type" in details:
        parts = [details["scan_type"], "@", details["facility"]]
        for name in ("next_facility", "exception_code", "attempt_reason", "signed_by"):
            if details.get(name):
                parts.append(f"{name}={details[name]}")
        return " ".join(parts)
    manifest = details.get("manifest")
    if manifest:
        receiver = manifest.get("receiver", {})
        return (f"{manifest['service_level']} {manifest['origin']}→{manifest['destination']}, "
                f"receiver {receiver.get('name')} {receiver.get('phone')}")
    shown = {k: v for k, v in details.items() if k not in ("tracking_no",) and v not in (None, "")}
    return ", ".join(f"{k}={v}" for k, v in shown.items())


@app.command()
def history(
    tracking_no: TrackingArg,
    as_of: Annotated[Optional[str], typer.Option(
        "--as-of", help="The parcel as it stood at this time, by when things happened (late "
        "uploads included); ISO 8601 with offset.")] = None,
    recorded_by: Annotated[Optional[str], typer.Option(
        "--recorded-by", help="Only what had been recorded by this time: what the system "
        "knew then. Combines with --as-of.")] = None,
    as_json: JsonFlag = False,
    reveal: Annotated[bool, typer.Option(
        "--reveal", help="Show personal data unmasked (auditors).")] = False,
) -> None:
    """A parcel's full history, event by event, with its hash chain."""
    from parcelflow.application.audit import history_report

    svc = service()
    moment = parse_time(as_of, "--as-of") if as_of else None
    known_by = parse_time(recorded_by, "--recorded-by") if recorded_by else None
    when = "".join(part for part in (f" as of {as_of}" if as_of else "",
                                     f" as recorded by {recorded_by}" if recorded_by else ""))
    try:
        head, items = history_report(svc, tracking_no, as_of=moment, recorded_by=known_by,
                                     reveal=reveal)
    except ParcelNotFound as e:
        fail(str(e) + when)
    if as_json:
        print_json({**head, "events": [i.to_json() for i in items]})
        return
    out.print(styled((tracking_no, "bold"), f"{when}: {head['status']}"
                     + (f" [{', '.join(head['flags'])}]" if head["flags"] else "")
                     + (f" at {head['location']}" if head["location"] else "")), highlight=False)
    for exc in head["open_exceptions"]:
        out.print(f"  open exception: {exc['code']} ({exc['status']})", highlight=False)
    table = Table("v", "event", "occurred", "recorded", "by", "details", "hash", box=None)
    for i in items:
        table.add_row(
            str(i.version), i.event_type, i.occurred_at.isoformat(timespec="seconds"),
            i.recorded_at.isoformat(timespec="seconds"), i.operator_id or i.device_id or "",
            _summary_of(i.details), i.event_hash[:12],
        )
    out.print(table)


@app.command()
def verify(
    tracking_no: Annotated[Optional[str], typer.Argument(
        help="One parcel to check.", callback=tracking_number)] = None,
    all_parcels: Annotated[bool, typer.Option("--all", help="Check every parcel.")] = False,
    proof: Annotated[bool, typer.Option(
        "--proof", help="Print the parcel's inclusion proof in the newest checkpoint (JSON), "
        "for a third party to check with the checkpoint and its public key.")] = False,
    checkpoints: Annotated[Optional[Path], typer.Option(
        "--checkpoints", help="Check against the newest checkpoint in this file (as "
        "`checkpoint --to file:PATH` wrote it) instead of the database's own.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check every chain up to its head and every head against the newest checkpoint;
    exit status 1 naming each parcel and what is wrong."""
    from parcelflow.adapters.checkpoint_sinks import read_file
    from parcelflow.adapters.signing import KeyFormatError
    from parcelflow.application.checkpoints import CheckpointError
    from parcelflow.bootstrap import build_checkpoints

    if bool(tracking_no) == all_parcels:
        fail("give a TRACKING_NO or --all (not both)", 2)
    if proof and not tracking_no:
        fail("--proof is for one TRACKING_NO", 2)
    from parcelflow.application.sharding import stores

    svc = service()
    # Each shard keeps its own chains and checkpoints: a parcel is verified on its own,
    # --all on every shard in turn (one report each).
    shard_for = getattr(svc, "shard_for", None)
    targets = [shard_for(tracking_no)] if shard_for and tracking_no else stores(svc)
    if checkpoints is not None and len(targets) > 1:
        fail("--checkpoints holds one store's checkpoints: with several shards, verify "
             "one TRACKING_NO or against each shard's own", 2)
    if len(targets) > 1:
        failed = False
        for number, store in enumerate(targets, 1):
            if not as_json:
                out.print(f"shard {number} of {len(targets)}:")
            failed |= not _verify_all(store, as_json)
        if failed:
            raise typer.Exit(1)
        return
    try:
        _, verification = build_checkpoints(targets[0])
    except KeyFormatError as e:
        fail(str(e), 2)
    if proof:
        assert tracking_no is not None
        try:
            print(json.dumps(verification.proof(tracking_no), ensure_ascii=False, indent=2))
        except CheckpointError as e:
            fail(str(e))
        except ParcelNotFound:
            fail(f"{tracking_no} is in no checkpoint yet")
        return
    published = None
    if checkpoints is not None:
        try:
            published = [note for _, note in read_file(checkpoints)]
        except (OSError, ValueError) as e:
            fail(f"cannot read checkpoints from {checkpoints}: {e}", 2)
        if not published:
            fail(f"{checkpoints} holds no checkpoint", 2)
    try:
        if tracking_no:
            report = verification.run(tracking_no, published=published)
        else:
            progress = Progress(TextColumn("{task.description}"), console=err, transient=True,
                                disable=not err.is_terminal)
            with progress:
                task = progress.add_task("verifying")
                report = verification.run(published=published, progress=lambda at, last:
                                          progress.update(task, description=(
                                              f"verifying: notification {at} of {last}")))
    except ParcelNotFound as e:
        fail(str(e))
    _print_audit(report, as_json)
    if not report.ok:
        raise typer.Exit(1)


def _verify_all(store: Any, as_json: bool) -> bool:
    """verify --all on one shard: its report printed; whether it verified."""
    from parcelflow.adapters.signing import KeyFormatError
    from parcelflow.bootstrap import build_checkpoints

    try:
        _, verification = build_checkpoints(store)
    except KeyFormatError as e:
        fail(str(e), 2)
    report = verification.run()
    _print_audit(report, as_json)
    return report.ok


def _print_audit(report: AuditReport, as_json: bool) -> None:
    stored = report.checkpoint
    if as_json:
        print_json({
            "ok": report.ok, "parcels": report.chain.parcels, "events": report.chain.events,
            "checkpoint": ({"id": stored.id, "made_at": stored.checkpoint.made_at.isoformat(),
                            "tree_size": stored.checkpoint.tree_size,
                            "root": stored.checkpoint.root.hex()} if stored else None),
            "broken": [{"tracking_no": n, "version": link.version, "event": link.event_type,
                        "reason": link.reason} for n, link in report.chain.broken],
            "tampered": [{"tracking_no": f.tracking_no, "kind": str(f.kind),
                          "version": f.version, "detail": f.detail} for f in report.findings],
            "problems": report.problems, "unanchored_events": report.unanchored,
        })
        return
    for number, link in report.chain.broken:
        out.print(f"BROKEN {number} event {link.version} ({link.event_type}): {link.reason}",
                  highlight=False)
    for f in report.findings:
        out.print(f"TAMPERED {f.tracking_no} event {f.version} ({f.kind}): {f.detail}",
                  highlight=False)
    for problem in report.problems:
        out.print(f"CHECKPOINT {problem}", highlight=False)
    against = (f" against checkpoint {stored.id} of {stored.checkpoint.made_at.isoformat()} "
               f"({stored.checkpoint.tree_size} heads)" if stored else " (no checkpoint yet)")
    wrong = len(report.chain.broken) + len(report.findings) + len(report.problems)
    out.print(f"{report.chain.parcels} parcels, {report.chain.events} events checked{against}: "
              + ("chain intact" if report.ok else f"{wrong} problems")
              + (f"; {report.unanchored} events are newer than the checkpoint"
                 if stored and report.unanchored else ""), highlight=False)


ToOption = Annotated[Optional[list[str]], typer.Option(
    "--to", help="Also write each checkpoint here: file:PATH (appended, synced), kafka (the "
    "checkpoints topic) or stdout; repeatable.")]


@app.command()
def checkpoint(
    every: Annotated[Optional[float], typer.Option(
        "--every", min=1, help="Keep making one every SECONDS (when the log moved).")] = None,
    to: ToOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Commit to every parcel's chain head in a signed Merkle-tree checkpoint."""
    from functools import partial

    from parcelflow.adapters.checkpoint_sinks import KafkaSink, sinks_for
    from parcelflow.adapters.signing import KeyFormatError
    from parcelflow.bootstrap import build_checkpoints
    from parcelflow.entrypoints.per_shard import run_per_shard

    settings = get_settings()

    def kafka_sink() -> KafkaSink:
        from parcelflow.adapters import kafka

        if not settings.kafka_bootstrap_servers:
            fail("--to kafka needs PARCELFLOW_KAFKA_BOOTSTRAP_SERVERS", 2)
        kafka.ensure_topics(settings, [settings.kafka_checkpoints_topic])
        return KafkaSink(kafka.producer(settings, client_id="parcelflow-checkpoint"),
                         settings.kafka_checkpoints_topic, settings.kafka_send_timeout)

    from parcelflow.application.sharding import stores

    # One checkpointer per shard, each on its own chains, store and leader lock.
    shards = stores(service())
    try:
        sinks = sinks_for(to or [], kafka_sink)
        makers = [build_checkpoints(shard, settings)[0] for shard in shards]
    except (ValueError, KeyFormatError) as e:
        fail(str(e), 2)
    for maker in makers:
        maker.sinks = sinks

    printing = threading.Lock()  # one checkpointer thread per shard: whole lines each

    def report(made: Made) -> None:
        with printing:
            _report(made)

    def _report(made: Made) -> None:
        cp = made.stored.checkpoint
        if as_json:
            print_json({"id": made.stored.id, "new": made.new, "tree_size": cp.tree_size,
                        "root": cp.root.hex(), "position": cp.position,
                        "made_at": cp.made_at.isoformat(), "changed": made.changed,
                        "refused": [{"tracking_no": n, "version": link.version,
                                     "reason": link.reason} for n, link in made.refused]})
        else:
            what = "checkpoint" if made.new else "unchanged since checkpoint"
            err.print(f"{what} {made.stored.id}: {cp.tree_size} parcels at log position "
                      f"{cp.position}, root {cp.root.hex()[:16]}…, {made.changed} heads moved",
                      highlight=False)
            for number, link in made.refused:
                err.print(f"REFUSED {number} event {link.version}: {link.reason} (its earlier "
                          "anchor stands)", highlight=False)

    stop = until_signalled(settings, "checkpoint") if every else threading.Event()
    try:
        run_per_shard([partial(_checkpoint_on, m, url, every, stop, report) for m, url in
                       zip(makers, settings.shard_urls(), strict=True)], stop, "checkpoint")
    finally:
        for sink in sinks:
            sink.close()


def _checkpoint_on(checkpoints: Any, database_url: str, every: float | None,
                   stop: threading.Event, report: Callable[[Made], None]) -> None:
    """Checkpoints of one store: once, or every `every` seconds until `stop`."""
    from parcelflow.adapters.leader import LeaderLock
    from parcelflow.application.checkpoints import CheckpointError

    # One checkpointer at a time: two would race for the next checkpoint's number.
    lock = LeaderLock(database_url, "checkpoint")
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


@app.command()
def erase(
    tracking_no: TrackingArg,
    by: Annotated[str, typer.Option(help="Who requested the erasure (kept in the history).")],
    reason: Annotated[str, typer.Option(help="Why (kept in the history).")] = "erasure request",
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase a parcel's personal data for good by destroying its key."""
    from parcelflow.application.erasure import Erasure

    svc = service()
    if not yes and not typer.confirm(
            f"Destroy the personal data of {tracking_no}? This cannot be undone", err=True):
        raise typer.Exit(1)
    try:
        destroyed = Erasure(svc).erase(tracking_no, by=by, reason=reason).key_destroyed
    except ParcelNotFound as e:
        fail(str(e))
    out.print(f"{tracking_no}: personal data erased" if destroyed
              else f"{tracking_no}: no personal data to erase (already erased or never given)")


# ---- export ----------------------------------------------------------------------------

export_app = typer.Typer(help="Hand data over in standard forms.", no_args_is_help=True)


@export_app.command("epcis")
def export_epcis(
    tracking_no: Annotated[Optional[str], typer.Argument(
        help="One parcel.", callback=tracking_number)] = None,
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
    from parcelflow.bootstrap import epcis_identifiers

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
        assert start is not None and end is not None
        zone = svc.network.zone
        low, high = period_bound(start, zone), period_bound(end, zone)
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


# ---- correct ---------------------------------------------------------------------------

correct_app = typer.Typer(help="Correct a recorded scan: nothing is edited, a correction "
                          "event names it, who and why.", no_args_is_help=True)
ScanIdArg = Annotated[str, typer.Argument(help="The scan to correct, as its scanner sent it.")]
ByOption = Annotated[str, typer.Option("--by", help="Who makes the correction (kept).")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (kept in the history).")]


def _corrected(call: Callable[[], Correction]) -> None:
    from parcelflow.application.corrections import CorrectionRefused
    from parcelflow.domain.errors import DomainError

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
def correct_void(tracking_no: TrackingArg, scan_id: ScanIdArg, by: ByOption,
                 reason: ReasonOption) -> None:
    """The scan did not happen."""
    from parcelflow.application.corrections import Corrections

    svc = service()
    _corrected(lambda: Corrections(svc).void(tracking_no, scan_id, by=by, reason=reason))


@correct_app.command("amend")
def correct_amend(
    tracking_no: TrackingArg, scan_id: ScanIdArg, by: ByOption, reason: ReasonOption,
    facility: Annotated[Optional[str], typer.Option(help="Where it really was.")] = None,
    occurred_at: Annotated[Optional[str], typer.Option(
        "--occurred-at", help="When it really happened (ISO 8601 with offset).")] = None,
    next_facility: Annotated[Optional[str], typer.Option(
        "--next-facility", help="Where it went next.")] = None,
) -> None:
    """The scan said something else: its facility, time or next facility."""
    from parcelflow.application.corrections import Corrections

    moment = parse_time(occurred_at, "--occurred-at") if occurred_at else None
    svc = service()
    _corrected(lambda: Corrections(svc).amend(
        tracking_no, scan_id, by=by, reason=reason, facility=facility, occurred_at=moment,
        next_facility=next_facility))
