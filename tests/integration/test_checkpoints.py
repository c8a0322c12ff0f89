"""Checkpoints against someone who edits the events table directly (PostgreSQL).

Each attack keeps every link of the chain valid (the attacker has the code too), so the
links alone pass; the checkpoint made before the attack names the parcel and what was
done to it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from parcelflow.adapters.checkpoint_sinks import FileSink, read_file
from parcelflow.adapters.signing import NoteSigner
from parcelflow.application.audit import verify_all
from parcelflow.bootstrap import build_checkpoints
from parcelflow.domain.checkpoint import Tamper
from parcelflow.domain.ids import parcel_id
from parcelflow.settings import Settings
from tests.support.builders import journey, manifest, tracking
from tests.support.tamper import append_forged, delete_event, delete_parcel, rewrite

pytestmark = pytest.mark.postgres

SIGNER = NoteSigner.generate("test.parcelflow/checkpoints")


@pytest.fixture
def store(make_service, postgres_url, clock):
    """Three parcels on their way (ten events each), and a checkpoint an hour later."""
    svc = make_service(postgres_url)
    svc.register([manifest(n) for n in (1, 2, 3)])
    svc.ingest([s for n in (1, 2, 3) for s in journey(n)[:9]])
    settings = Settings(_env_file=None, database_url=postgres_url,
                        checkpoint_key=SIGNER.private_text())
    checkpoints, verification = build_checkpoints(svc, settings)
    clock.advance(hours=1)
    made = checkpoints.make()
    assert made.new and made.stored.checkpoint.tree_size == 3 and not made.refused
    return svc, postgres_url, checkpoints, verification


def findings(verification, **kwargs):
    report = verification.run(**kwargs)
    return report, {(f.tracking_no, f.kind) for f in report.findings}


def test_an_untouched_store_passes_and_later_events_are_counted_as_not_yet_anchored(store, clock):
    svc, _, _, verification = store
    clock.advance(hours=1)
    svc.ingest(journey(1)[9:10])
    report = verification.run()
    assert report.ok and report.chain.events == 31 and report.unanchored == 1


def test_a_deleted_newest_event_is_named(store):
    svc, url, _, verification = store
    delete_event(url, parcel_id(tracking(2)), 10)
    assert verify_all(svc).ok  # the links alone hold: version 9 is a fine head
    report, found = findings(verification)
    assert not report.ok and found == {(tracking(2), Tamper.DELETED_NEWEST)}
    assert "event 10 is gone" in report.findings[0].detail


def test_a_newest_event_rewritten_with_its_hash_is_named(store):
    svc, url, _, verification = store
    rewrite(svc, url, parcel_id(tracking(1)), 10, facility="SHA-STA-99")
    assert verify_all(svc).ok
    report, found = findings(verification)
    assert found == {(tracking(1), Tamper.REWRITTEN)}
    assert report.findings[0].version == 10 and "the newest event" in report.findings[0].detail


def test_a_forged_event_appended_with_a_correct_link_and_a_backdated_time_is_named(store, clock):
    svc, url, _, verification = store
    before = clock.now - timedelta(minutes=30)  # "recorded" before the checkpoint
    version = append_forged(svc, url, parcel_id(tracking(3)), scan_id="forged-1",
                            scan_type="delivered", signed_by="recipient",
                            recorded_at=before, timestamp=before)
    assert verify_all(svc).ok
    report, found = findings(verification)
    assert found == {(tracking(3), Tamper.FORGED_APPENDED)}
    assert report.findings[0].version == version == 11


def test_a_rewritten_middle_event_with_every_later_link_recomputed_is_named(store):
    svc, url, _, verification = store
    rewrite(svc, url, parcel_id(tracking(2)), 4, rechain=True, facility="CAN-HUB-03")
    assert verify_all(svc).ok
    report, found = findings(verification)
    assert found == {(tracking(2), Tamper.RE_CHAINED)}


def test_a_deleted_parcel_is_named(store):
    svc, url, _, verification = store
    delete_parcel(url, parcel_id(tracking(1)))
    assert verify_all(svc).ok  # nothing left to check: the links say nothing
    report, found = findings(verification)
    assert found == {(tracking(1), Tamper.DELETED_PARCEL)}
    # And asked about that one parcel, verify says the same instead of "no such parcel".
    report, found = findings(verification, tracking_no=tracking(1))
    assert found == {(tracking(1), Tamper.DELETED_PARCEL)}


def test_a_tampered_parcel_is_not_laundered_into_the_next_checkpoint(store, clock,
                                                                     make_service):
    svc, url, checkpoints, verification = store
    rewrite(svc, url, parcel_id(tracking(1)), 10, facility="SHA-STA-99")
    clock.advance(hours=1)
    # A process that reads the parcel afresh builds its new events on the rewritten one,
    # so their links hold: only the earlier anchor knows better.
    fresh = make_service(url, cache_size=0)
    fresh.ingest(journey(1)[9:11] + journey(2)[9:10])
    assert verify_all(fresh).ok
    made = checkpoints.make()
    assert [(n, link.version) for n, link in made.refused] == [(tracking(1), 11)]
    assert made.changed == 1  # parcel 2 moved on; parcel 1 keeps its old anchor
    report, found = findings(verification)
    assert found == {(tracking(1), Tamper.REWRITTEN)}


def test_altered_checkpoint_rows_and_a_deleted_checkpoint_are_refused(store, tmp_path, clock):
    svc, url, checkpoints, verification = store
    published = tmp_path / "checkpoints.jsonl"
    FileSink(published).publish(checkpoints.store.newest())
    notes = [note for _, note in read_file(published)]
    assert verification.run(published=notes).ok

    checkpoints.store.execute("UPDATE checkpoint_heads SET version = 11 WHERE tracking_no = ?",
                              [tracking(1)])
    report = verification.run()
    assert not report.ok and "do not hash to its signed root" in report.problems[0]

    checkpoints.store.execute("DELETE FROM checkpoint_heads")
    checkpoints.store.execute("DELETE FROM checkpoints")
    assert verification.run().ok  # the database alone no longer knows it was anchored
    report = verification.run(published=notes)  # the copy kept elsewhere does
    assert not report.ok and "is not in the database" in report.problems[0]


def test_a_checkpoint_signed_by_another_key_is_refused(store, postgres_url):
    svc, _, _, _ = store
    other = NoteSigner.generate("test.parcelflow/checkpoints")  # same name, other key
    settings = Settings(_env_file=None, database_url=postgres_url,
                        checkpoint_public_key=other.verifier_text())
    _, verification = build_checkpoints(svc, settings)
    report = verification.run()
    assert not report.ok and "no signature of test.parcelflow/checkpoints" in report.problems[0]


def test_a_checkpoint_with_nothing_new_is_not_made_again(store):
    _, _, checkpoints, _ = store
    again = checkpoints.make()
    assert not again.new and again.stored.id == 1
