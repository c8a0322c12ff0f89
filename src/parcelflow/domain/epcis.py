"""A parcel's scans as GS1 EPCIS 2.0 events (JSON-LD), for partners and regulators.

One ObjectEvent per scan: when (`eventTime` with its own offset, `recordTime`), what
(CBV `bizStep` and `disposition`, from the vocabulary's one table), where (`readPoint`,
and `bizLocation` while the parcel stays there: a GLN when the facility has one, else
the carrier's own URI), and which parcel (an SSCC when the carrier has a GS1 company
prefix, else its own URI). Nothing else: no names, phones, addresses, signatures, notes,
operators or devices.

Corrections never edit an event, as in EPCIS itself: a voided scan is its event again
with an `errorDeclaration` (`did_not_occur`); an amended one is its event with an
`errorDeclaration` (`incorrect_data`) naming the corrected event in
`correctiveEventIDs`, followed by that event. Each `eventID` is the EPCIS event hash
(CBV 2.0 section 8.9), so the original and its declaration share one id, and anyone
holding the same event computes the same id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from parcelflow.domain.network import gs1_check_digit
from parcelflow.domain.timeline import Scan
from parcelflow.domain.vocabulary import CBV_STEPS, ExceptionCode, FacilityKind, ScanType

CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
CBV = "https://ref.gs1.org/cbv/"
GS1_DL = "https://id.gs1.org"
PREFIX = "parcelflow"  # our JSON-LD prefix for the extension fields


@dataclass(frozen=True)
class Identifiers:
    """How parcels and places are named: GS1 keys where the carrier has them, else URIs
    under its own domain."""

    base_uri: str  # e.g. https://id.carrier.example
    company_prefix: str | None = None  # GS1 company prefix, 6 to 12 digits
    extension_digit: str = "0"
    glns: dict[str, str] = field(default_factory=dict)  # facility code -> GLN

    @property
    def vocabulary(self) -> str:
        return f"{self.base_uri}/voc/"

    def parcel(self, tracking_no: str) -> str:
        """The parcel's EPC: its SSCC as a GS1 Digital Link URI, or the carrier's URI.

        The SSCC's serial reference is the tracking number's rightmost 16 - L digits (L:
        the company prefix's length): the carrier's numbering must keep them unique for
        at least a year, as GS1 asks of SSCCs.
        """
        if self.company_prefix is None:
            return f"{self.base_uri}/parcel/{tracking_no}"
        digits = "".join(c for c in tracking_no if c.isdigit())
        width = 16 - len(self.company_prefix)
        body = self.extension_digit + self.company_prefix + digits[-width:].rjust(width, "0")
        return f"{GS1_DL}/00/{body}{gs1_check_digit(body)}"

    def place(self, facility: str) -> str:
        gln = self.glns.get(facility)
        return f"{GS1_DL}/414/{gln}" if gln else f"{self.base_uri}/facility/{facility}"


def _offset(moment: datetime) -> str:
    offset = moment.utcoffset()
    assert offset is not None, "naive datetimes never reach the domain"
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def object_event(scan: Scan, tracking_no: str, recorded_at: datetime,
                 ids: Identifiers) -> dict[str, Any]:
    """The scan as an EPCIS ObjectEvent, its `eventID` computed."""
    step = CBV_STEPS[scan.scan_type]
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": scan.occurred_at.isoformat(),
        "eventTimeZoneOffset": _offset(scan.occurred_at),
        "recordTime": recorded_at.isoformat(),
        "epcList": [ids.parcel(tracking_no)],
        "action": "OBSERVE",
        "bizStep": step.biz_step,
    }
    disposition = step.disposition_for(scan.exception_code)
    if disposition:
        event["disposition"] = disposition
    event["readPoint"] = {"id": ids.place(scan.facility)}
    if step.stays:
        event["bizLocation"] = {"id": ids.place(scan.facility)}
    # The carrier's own words, as URIs of its vocabulary as CBV's are of GS1's: a bare
    # "damaged" beside the disposition `damaged` would read as the CBV word.
    event[f"{PREFIX}:scanType"] = f"{ids.vocabulary}ScanType-{scan.scan_type}"
    reason = scan.exception_code or scan.attempt_reason
    if reason:
        event[f"{PREFIX}:reasonCode"] = f"{ids.vocabulary}ExceptionCode-{reason}"
    event["eventID"] = event_hash(event, ids)
    return event


def _utc_ms(value: str) -> str:
    moment = datetime.fromisoformat(value).astimezone(timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_hash(event: dict[str, Any], ids: Identifiers) -> str:
    """The EPCIS event hash (CBV 2.0 section 8.9) of one of our ObjectEvents.

    The pre-hash string is every field in the standard's order as `name=value`, times in
    UTC to the millisecond, CBV words as their full web-vocabulary URIs, lists sorted,
    then the extension fields as `{namespace}name=value` in lexical order; recordTime,
    eventID and errorDeclaration are left out (a declaration keeps its event's id). It
    covers the fields these events have; `tests/unit/test_epcis.py` compares it with
    GS1's reference implementation.
    """
    parts = ["eventType=ObjectEvent", f"eventTime={_utc_ms(event['eventTime'])}",
             f"eventTimeZoneOffset={event['eventTimeZoneOffset']}",
             "epcList" + "".join(sorted(f"epc={epc}" for epc in event["epcList"])),
             f"action={event['action']}", f"bizStep={CBV}BizStep-{event['bizStep']}"]
    if "disposition" in event:
        parts.append(f"disposition={CBV}Disp-{event['disposition']}")
    parts.append(f"readPointid={event['readPoint']['id']}")
    if "bizLocation" in event:
        parts.append(f"bizLocationid={event['bizLocation']['id']}")
    extensions = sorted(
        f"{{{ids.vocabulary}}}{key.removeprefix(PREFIX + ':')}={value}"
        for key, value in event.items() if key.startswith(PREFIX + ":"))
    pre_hash = "".join(parts) + "".join(extensions)
    return f"ni:///sha-256;{hashlib.sha256(pre_hash.encode()).hexdigest()}?ver=CBV2.0"


def _declared(event: dict[str, Any], at: datetime, reason: str,
              corrective: list[str] | None = None) -> dict[str, Any]:
    declaration: dict[str, Any] = {"declarationTime": at.isoformat(), "reason": reason}
    if corrective:
        declaration["correctiveEventIDs"] = corrective
    return {**event, "recordTime": at.isoformat(), "errorDeclaration": declaration}


_TYPED = {"scan_type": ScanType, "exception_code": ExceptionCode,
          "attempt_reason": ExceptionCode, "facility_kind": FacilityKind}


def _amended(scan: Scan, changes: dict[str, Any]) -> Scan:
    typed = {k: (_TYPED[k](v) if k in _TYPED and v is not None else v)
             for k, v in changes.items()}
    return replace(scan, **typed)


def events(parcel_events: Iterable[Any], tracking_no: str, ids: Identifiers
           ) -> list[dict[str, Any]]:
    """A parcel's EPCIS events, in the order they were recorded: each scan, and each
    correction as its error declaration (and, for an amendment, the corrective event).
    `parcel_events` are the parcel's stored events; only scans and corrections count."""
    scans: dict[int, Scan] = {}
    current: dict[int, dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    for event in parcel_events:
        kind = type(event).__name__
        if kind == "ScanRecorded":
            scans[event.originator_version] = scan = event.to_scan()
            current[event.originator_version] = epcis = object_event(
                scan, tracking_no, event.recorded_at, ids)
            out.append(epcis)
        elif kind == "EventVoided" and event.target_version in current:
            out.append(_declared(current.pop(event.target_version), event.recorded_at,
                                 "did_not_occur"))
        elif kind == "ScanAmended" and event.target_version in current:
            target = event.target_version
            scans[target] = scan = _amended(scans[target], event.changes)
            corrected = object_event(scan, tracking_no, event.recorded_at, ids)
            if corrected["eventID"] == current[target]["eventID"]:
                continue  # changed only what EPCIS does not carry (a note, a signature)
            out.append(_declared(current[target], event.recorded_at, "incorrect_data",
                                 [corrected["eventID"]]))
            out.append(corrected)
            current[target] = corrected
    return out


def document(event_list: list[dict[str, Any]], ids: Identifiers, created: datetime
             ) -> dict[str, Any]:
    return {
        "@context": context(ids),
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": created.isoformat(),
        "epcisBody": {"eventList": event_list},
    }


def context(ids: Identifiers) -> list[Any]:
    return [CONTEXT, {PREFIX: ids.vocabulary}]


def standalone(event: dict[str, Any], ids: Identifiers) -> dict[str, Any]:
    """One event on its own (a JSON Lines export): it carries its JSON-LD context."""
    return {"@context": context(ids), **event}
