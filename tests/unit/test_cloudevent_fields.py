"""The v1 CloudEvents keep the field names they were published with: a consumer of
com.parcelflow.parcel.exception_raised.v1 reads the exception's occurrence key as `cause`,
as it always has, although the code now calls it `occurrence`."""

from __future__ import annotations

from parcelflow.consumers.parcel_events import to_cloudevent
from parcelflow.domain.parcel import Parcel
from parcelflow.domain.vocabulary import ExceptionCode
from tests.support.builders import T0, sealed_manifest, tracking


def test_an_exception_raised_event_publishes_its_occurrence_as_cause():
    parcel = Parcel.register(sealed_manifest(1), recorded_at=T0)
    parcel.raise_exception(ExceptionCode.DAMAGED, recorded_at=T0, by="staff:emp-1")
    raised = parcel.collect_events()[-1]
    data = to_cloudevent(raised, tracking(1))["data"]
    assert data["event"] == "exception_raised"
    assert data["cause"] == raised.occurrence and data["cause"].startswith("raised@")
    assert "occurrence" not in data
