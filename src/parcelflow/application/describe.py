"""Timeline lines in words a customer (or an auditor) reads."""

from __future__ import annotations

from parcelflow.application.personal_data import is_sealed
from parcelflow.domain.network import Network
from parcelflow.domain.privacy import mask_signature, scrub_text
from parcelflow.domain.timeline import Entry
from parcelflow.domain.vocabulary import (
    CLOSED_BY,
    EXCEPTION_RULES,
    FACT_RULES,
    SCAN_RULES,
    ExceptionCode,
    Fact,
    Outcome,
    ScanType,
)


def facility_name(code: str | None, network: Network) -> str:
    if code is None:
        return "unknown place"
    found = network.facilities.get(code)
    return found.name_en if found else f"{code} (not in the network registry)"


def city_name(code: str | None, network: Network) -> str | None:
    found = network.facilities.get(code) if code else None
    if not found:
        return None
    city = network.city_of(code)
    return city.name_en if city else found.city


def _code_text(code: str | None) -> str:
    if not code:
        return ""
    try:
        return EXCEPTION_RULES[ExceptionCode(code)].description.lower()
    except ValueError:
        return code.replace("_", " ")


# How the system noted its own closures before each had its own outcome (issue 16):
# events stored then say `cleared` (or `redelivered`, after a failed attempt) and one of
# these notes (plain text: what staff write is sealed).
_DELIVERED_NOTES = frozenset({"delivered", "delivered after the failed attempt"})
_MOVING_NOTE = "scanned again at "
_CORRECTED_NOTE = "no longer shown by the timeline"  # a scan voided or amended


def _closed_by(detail: dict) -> str:
    """What closed an exception: for an automatic closure, what ended it (never a staff
    outcome); for staff, their outcome."""
    outcome, note, code = detail.get("outcome"), detail.get("note"), detail.get("code")
    if outcome == Outcome.REDELIVERED and note in _DELIVERED_NOTES:
        outcome = Outcome.DELIVERED
    elif outcome == Outcome.CLEARED:
        if code == ExceptionCode.UNMANIFESTED:
            outcome = Outcome.MANIFEST_ARRIVED
        elif note in _DELIVERED_NOTES:
            outcome = Outcome.DELIVERED
        elif isinstance(note, str) and note.startswith(_MOVING_NOTE):
            outcome = Outcome.MOVING_AGAIN
        elif note == _CORRECTED_NOTE:
            return "a correction of its scans explains it"
    try:
        return CLOSED_BY[Outcome(outcome)]
    except (KeyError, ValueError):
        return str(outcome)


def describe(entry: Entry, network: Network, *, masked: bool = False) -> str:
    """One timeline line in words; `masked` for what customers see (who signed keeps
    only the surname, phone numbers and emails in free text are masked)."""
    text = _describe(entry, network, masked)
    return scrub_text(text) if masked else text


def _describe(entry: Entry, network: Network, masked: bool) -> str:
    scan = entry.scan
    if scan is not None:
        where = facility_name(scan.facility, network)
        match scan.scan_type:
            case ScanType.SORT if scan.next_facility:
                return f"Sorted at {where}, next: {facility_name(scan.next_facility, network)}"
            case ScanType.DEPARTURE if scan.next_facility:
                return f"Departed {where} for {facility_name(scan.next_facility, network)}"
            case ScanType.DEPARTURE:
                return f"Departed {where}"
            case ScanType.EXCEPTION:
                return f"Problem reported at {where}: {_code_text(scan.exception_code)}"
            case ScanType.DELIVERY_ATTEMPT:
                return f"Delivery attempt failed: {_code_text(scan.attempt_reason)}"
            case ScanType.DELIVERED | ScanType.PICKED_UP_BY_RECIPIENT if scan.signed_by:
                who = mask_signature(scan.signed_by) if masked else scan.signed_by
                return f"{SCAN_RULES[scan.scan_type].description} (signed: {who})"
            case _:
                return f"{SCAN_RULES[scan.scan_type].description} — {where}"
    detail = entry.detail
    match entry.kind:
        case Fact.EXCEPTION_RAISED:
            what, why = _code_text(detail.get("code")), detail.get("detail")
            if is_sealed(why):
                why = None  # what staff wrote about it is sealed: its kind says enough
            return f"Exception: {what}" + (f" ({why})" if why and why.lower() != what else "")
        case Fact.EXCEPTION_RESOLVED:
            return f"Exception closed: {_code_text(detail.get('code'))} — {_closed_by(detail)}"
        case Fact.EXCEPTION_REOPENED:
            return f"Exception reopened: {_code_text(detail.get('code'))}"
        case Fact.CORRECTION:
            # Why is for auditors (the history); customers read that it was corrected.
            return (f"Correction: event {detail.get('target_version')} {detail.get('action')}"
                    + ("" if masked else f" ({detail.get('reason')})"))
    return FACT_RULES[entry.kind].description  # type: ignore[index]
