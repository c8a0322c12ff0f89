"""Any arrival order of a parcel's scans, with any of them retried, tells the same story."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from parcelflow.domain.parcel import Parcel
from tests.support.builders import T0, as_scans, journey, scan, sealed_manifest

NOW = T0 + timedelta(days=3)


def _journeys() -> list[list[dict]]:
    """Realistic stories: clean, misrouted, damaged, failed attempt, missed scans, stray."""
    clean = journey()
    misrouted = journey()[:5] + [
        scan("arrival", "HGH-HUB-03", 15),
        scan("sort", "HGH-HUB-03", 15.5, next_facility="SHA-HUB-02"),
        scan("departure", "HGH-HUB-03", 16, next_facility="SHA-HUB-02"),
    ] + journey()[5:]
    damaged = journey()[:4] + [scan("exception", "SZX-HUB-01", 2.7, exception_code="damaged")]
    attempts = journey()[:10] + [
        scan("delivery_attempt", "SHA-STA-13", 25, attempt_reason="recipient_absent"),
        scan("out_for_delivery", "SHA-STA-13", 40),
        scan("delivery_attempt", "SHA-STA-13", 41, attempt_reason="address_issue"),
    ]
    gaps = [s for i, s in enumerate(journey()) if i not in (2, 6)]
    stray = journey() + [scan("arrival", "SHA-HUB-02", 30)]
    same_instant = journey()[:3] + [scan("sort", "SZX-HUB-01", 2, next_facility="SHA-HUB-02")]
    # Two scanners disagree about where the parcel was at one instant: only a tie-break
    # that ignores arrival order makes the story the same every time.
    clock_clash = journey()[:3] + [scan("arrival", "CAN-HUB-04", 2),
                                   scan("departure", "CAN-HUB-04", 3, next_facility="SHA-HUB-02")]
    return [clean, misrouted, damaged, attempts, gaps, stray, same_instant, clock_clash]


JOURNEYS = _journeys()


@st.composite
def arrivals(draw: st.DrawFn) -> tuple[list[dict], list[list[dict]]]:
    scans = draw(st.sampled_from(JOURNEYS))
    retried = draw(st.lists(st.sampled_from(scans), max_size=len(scans)))
    order = draw(st.permutations(scans + retried))
    # Split into upload batches of random sizes.
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(order) - 1)), max_size=4)))
    batches = [order[a:b] for a, b in zip([0, *cuts], [*cuts, len(order)]) if order[a:b]]
    return scans, batches


def story(parcel: Parcel) -> tuple:
    state = parcel.state
    scans = tuple(
        (e.scan.scan_id, e.kind, e.occurred_at, e.voided) for e in state.timeline if e.scan
    )
    open_exceptions = frozenset((str(r.code), r.occurrence) for r in parcel.open_exceptions)
    return (state.status, state.flags, state.location, scans, open_exceptions,
            state.missed_scans, state.delivered, state.failed_attempts)


@settings(max_examples=300, deadline=None)
@given(arrivals())
def test_any_order_and_any_retries_give_the_same_status_flags_and_timeline(case):
    scans, batches = case
    in_order = Parcel.register(sealed_manifest(), recorded_at=T0 - timedelta(hours=1))
    in_order.record_scans(as_scans(*scans), recorded_at=NOW)

    shuffled = Parcel.register(sealed_manifest(), recorded_at=T0 - timedelta(hours=1))
    for k, batch in enumerate(batches):
        shuffled.record_scans(as_scans(*batch), recorded_at=NOW + timedelta(minutes=k))

    assert story(shuffled) == story(in_order)
    assert len(shuffled.scan_versions) == len(scans)
