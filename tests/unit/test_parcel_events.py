"""Stored events as CloudEvents: stable ids, the tracking number as subject, and only
public fields in the data."""

from __future__ import annotations

from datetime import timedelta

from cloudevents.core.bindings.kafka import KafkaMessage, from_structured_event
from parcelflow.consumers import parcel_events
from parcelflow.consumers.ingest_worker import parse

from parcelflow.domain.parcel import Parcel
from tests.support.builders import T0, as_scans, scan, sealed_manifest, tracking


def parcel_with_history() -> Parcel:
    parcel = Parcel.register(sealed_manifest(1), recorded_at=T0, operator_id="clerk-9")
    parcel.record_scans(as_scans(scan("pickup", "SZX-OUT-07", 0, 1, note="王小明 13812345678"),
                                 scan("delivered", "SZX-OUT-07", 1, 1, signed_by="王小明")),
                        recorded_at=T0 + timedelta(hours=2))
    return parcel


def test_every_event_is_a_cloudevent_the_sdk_reads_back():
    events = parcel_with_history().collect_events()
    for event in events:
        ce = parcel_events.to_cloudevent(event, tracking(1))
        read = from_structured_event(KafkaMessage(dict(parcel_events.HEADERS),
                                                  tracking(1).encode(),
                                                  parcel_events.encode(ce)))
        assert read.get_id() == f"{event.originator_id}:{event.originator_version}"
        assert read.get_subject() == tracking(1)
        assert read.get_time() == event.occurred_at
        assert read.get_data()["version"] == event.originator_version
    assert [parcel_events.event_name(e) for e in events][:2] == ["registered", "scan_recorded"]


def test_personal_data_and_free_text_stay_out_of_the_data():
    for event in parcel_with_history().collect_events():
        data = parcel_events.public_data(event)
        text = parcel_events.encode(parcel_events.to_cloudevent(event, tracking(1))).decode()
        for secret in ("王小明", "13812345678", "v1:receiver", "v1:sender", "fp-1", "clerk-9",
                       "receiver_language"):
            assert secret not in text, (type(event).__name__, secret)
        if "manifest" in data:
            assert set(data["manifest"]) == {"service_level", "origin", "destination",
                                             "promised_by", "customer_tier", "merchant_id"}


def test_a_scan_message_is_parsed_or_refused_with_a_reason():
    assert parse(b'{"scan_id": "s1"}') == ({"scan_id": "s1"}, None)
    assert parse(b"") == (None, "empty message")
    assert parse(b'"a string"') == (None, "not a JSON object (a str)")
    item, reason = parse(b"\xff\xfe{")
    assert item is None and reason.startswith("not valid JSON")


def test_a_cloudevent_made_from_the_stored_json_is_the_one_made_from_the_event():
    """The relay encodes each event once, from its stored JSON: byte for byte the
    message the decoded event gives, for every kind of event stored."""
    from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, UUIDAsHex

    from parcelflow.adapters.transcoder import OrjsonTranscoder, ParcelMapper
    from tests.unit.test_transcoder import workflow_events

    transcoder = OrjsonTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    mapper = ParcelMapper(transcoder)
    events = parcel_with_history().collect_events() + workflow_events()
    kinds = set()
    for event in events:
        stored = mapper.to_stored_event(event)
        decoded = mapper.to_domain_event(stored)
        made = parcel_events.encode_stored(stored, tracking(1), decode=mapper.to_domain_event)
        assert made == parcel_events.encode(parcel_events.to_cloudevent(decoded, tracking(1)))
        kinds.add(parcel_events.event_name(decoded))
    assert {"registered", "scan_recorded", "exception_raised", "scan_amended",
            "eta_revised"} <= kinds
