"""Scans as EPCIS 2.0 events, checked with GS1's schema and GS1's reference event hash."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from epcis_event_hash_generator.dl_normaliser import normaliser

from parcelflow.domain import epcis
from tests.support.builders import T0, as_scans, journey, scan
from tests.support.epcis import reference_hashes, schema_errors

RECORDED = T0 + timedelta(days=1)
OWN = epcis.Identifiers("https://id.carrier.example")
GS1 = epcis.Identifiers("https://id.carrier.example", company_prefix="0614141",
                        extension_digit="1", glns={"SZX-HUB-01": "0614141000012"})


def every_kind_of_scan() -> list:
    return as_scans(
        *journey(1),
        scan("customs_hold", "SHA-CUS-01", 21.2), scan("customs_release", "SHA-CUS-01", 21.4),
        scan("exception", "SZX-HUB-01", 2.7, exception_code="damaged"),
        scan("delivery_attempt", "SHA-STA-13", 25, attempt_reason="recipient_absent"),
        scan("held_at_pickup_point", "SHA-PUP-01", 27),
        scan("picked_up_by_recipient", "SHA-PUP-01", 30, signed_by="李华"),
        scan("return_to_sender", "SHA-STA-13", 31, note="call 138.1234.5678"),
    )


def exported(ids: epcis.Identifiers, tracking_no: str = "PF202611220000001") -> dict:
    events = [epcis.object_event(s, tracking_no, RECORDED, ids) for s in every_kind_of_scan()]
    return epcis.document(events, ids, RECORDED)


def test_every_scan_type_makes_an_event_gs1s_schema_accepts():
    for ids in (OWN, GS1):
        document = exported(ids)
        assert len(document["epcisBody"]["eventList"]) == 18
        assert schema_errors(document) == []
        for event in document["epcisBody"]["eventList"]:  # as JSON Lines: each on its own
            assert schema_errors(epcis.standalone(event, ids)) == []


def test_event_ids_are_the_reference_epcis_event_hashes():
    for ids in (OWN, GS1):
        document = exported(ids)
        ours = [e["eventID"] for e in document["epcisBody"]["eventList"]]
        assert ours == reference_hashes(document)
        assert len(set(ours)) == len(ours)


def test_gs1_keys_are_those_gs1s_own_tools_derive():
    # The reference implementation's EPC URI -> Digital Link conversion, from the GS1
    # example SSCC (company prefix 0614141, extension 1, serial reference 234567890).
    assert GS1.parcel("PF000000234567890") == normaliser("urn:epc:id:sscc:0614141.1234567890")
    assert GS1.place("SZX-HUB-01") == normaliser("urn:epc:id:sgln:0614141.00001.0")
    assert OWN.parcel("PF202611220000001") == "https://id.carrier.example/parcel/PF202611220000001"
    assert GS1.place("SHA-HUB-02") == "https://id.carrier.example/facility/SHA-HUB-02"


def test_an_event_says_when_what_and_where_in_cbv_words():
    [pickup, departure] = as_scans(
        scan("pickup", "SZX-OUT-07", 0, t0=datetime(2026, 11, 22, 8, 0, tzinfo=timezone(
            timedelta(hours=-5, minutes=-30)))),
        scan("departure", "SZX-HUB-01", 3, next_facility="SHA-HUB-02"))
    first = epcis.object_event(pickup, "PF202611220000001", RECORDED, GS1)
    assert first["eventTime"] == "2026-11-22T08:00:00-05:30"
    assert first["eventTimeZoneOffset"] == "-05:30"
    assert (first["bizStep"], first["disposition"]) == ("accepting", "in_progress")
    assert first["readPoint"] == first["bizLocation"] == {
        "id": "https://id.carrier.example/facility/SZX-OUT-07"}
    leaving = epcis.object_event(departure, "PF202611220000001", RECORDED, GS1)
    assert (leaving["bizStep"], leaving["disposition"]) == ("departing", "in_transit")
    assert leaving["readPoint"] == {"id": "https://id.gs1.org/414/0614141000012"}
    assert "bizLocation" not in leaving  # on the road: at no location


def test_no_personal_data_reaches_an_event():
    text = json.dumps(exported(OWN), ensure_ascii=False)
    for secret in ("李华", "138.1234.5678", "call", "S01"):  # signature, note, device ids
        assert secret not in text


def test_a_change_epcis_does_not_carry_keeps_the_event_id():
    [delivered] = as_scans(scan("delivered", "SHA-STA-13", 26, signed_by="recipient"))
    event = epcis.object_event(delivered, "PF202611220000001", RECORDED, OWN)
    again = epcis.object_event(replace(delivered, signed_by="neighbour", note="x"),
                               "PF202611220000001", RECORDED + timedelta(hours=1), OWN)
    assert again["eventID"] == event["eventID"]
    moved = epcis.object_event(replace(delivered, facility="SHA-STA-14"), "PF202611220000001",
                               RECORDED, OWN)
    assert moved["eventID"] != event["eventID"]


def test_a_facility_may_carry_a_gln_and_a_wrong_one_is_refused_by_name():
    import pytest

    from parcelflow.bootstrap import epcis_identifiers
    from parcelflow.domain.network import Network
    from parcelflow.settings import Settings

    def network(gln: str) -> Network:
        return Network.from_dict({"cities": [], "lanes": [], "facilities": [
            {"code": "X-HUB-01", "kind": "hub", "name_zh": "x", "name_en": "X", "city": "XXX",
             "timezone": "UTC", "gln": gln}]})

    ids = epcis_identifiers(network("0614141000029"), Settings(_env_file=None))
    assert ids.place("X-HUB-01") == normaliser("urn:epc:id:sgln:0614141.00002.0")
    with pytest.raises(ValueError, match="facility X-HUB-01: gln"):
        network("0614141000028")  # wrong check digit
