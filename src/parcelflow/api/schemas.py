"""Response shapes, for the OpenAPI document (and checked against it by the tests).

Hot routes build plain dicts and skip response validation; schemathesis checks that
what they send matches these models.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from parcelflow.domain.vocabulary import STAFF_OUTCOMES, Channel, ExceptionCode, Outcome
from parcelflow.wire.common import (
    TRACKING_NO_PATTERN,
    FacilityCode,
    Identifier,
    PlainText,
    Timestamp,
)
from parcelflow.wire.tracking_numbers import MAX_LENGTH

# Checked against the configured formats by the routes (the API's context knows them);
# the document shows them (see api.app).
TrackingNoField = Annotated[str, Field(max_length=MAX_LENGTH, examples=["PF202611220000001"],
                                       json_schema_extra={"pattern": TRACKING_NO_PATTERN})]


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- batches -------------------------------------------------------------------------


class ItemStatusOut(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class ScanResult(Closed):
    index: int = Field(description="position of the item in the batch, from 0")
    status: ItemStatusOut
    scan_id: str | None
    reason: str | None = Field(None, description="why it was rejected")


class ManifestResult(Closed):
    index: int
    status: ItemStatusOut
    tracking_no: str | None
    reason: str | None = Field(None, description="why it was rejected, or how it was accepted")


class ScanBatchAnswer(Closed):
    accepted: int
    duplicates: int
    rejected: int
    position: int | None = Field(
        description="notification position of the last event written (null: none); "
        "read models that reached it show this batch")
    results: list[ScanResult]


class ManifestBatchAnswer(Closed):
    accepted: int
    duplicates: int
    rejected: int
    position: int | None
    results: list[ManifestResult]


# ---- public lookup -------------------------------------------------------------------


class Milestone(Closed):
    status: str
    occurred_at: str
    city: str | None


class DeliveryRange(Closed):
    """A predicted delivery: a range learned from the network's own history."""

    earliest: str = Field(description="the 10th percentile of the learned transit times")
    likely: str = Field(description="the median: the most likely time")
    latest: str = Field(description="the 90th percentile")
    confidence: float = Field(description="0 to 1: how likely the delivery is to fall in "
                              "the range (0.8 shrunk for thin history; 0 for the network's "
                              "typical hours, which are a single time)")
    basis: str = Field(description="the history used: lane+service+weekday, lane+service, "
                       "lane, or network_typical when there was too little")


class CoarseTracking(Closed):
    """What anyone with the tracking number sees."""

    tracking_no: str
    detail: Literal["coarse"]
    status: str
    city: str | None
    eta: DeliveryRange | None = Field(description="the prediction now, from the parcel's "
                                      "latest scan (null: delivered, or nothing to go on)")
    eta_original: DeliveryRange | None = Field(description="the prediction made at pickup, "
                                               "kept as it was")
    delivered_at: str | None
    timeline: list[Milestone]


class Location(Closed):
    facility: str | None
    city: str | None


class NextExpected(Closed):
    activity: str
    facility: str | None


class Delivered(Closed):
    at: str
    signed_by: str | None


class MaskedParty(BaseModel):
    name: str | None = None
    phone: str | None = None
    address: str | None = None
    email: str | None = None


class TimelineEntry(Closed):
    type: str
    occurred_at: str
    facility: str | None
    city: str | None
    description: str
    late: bool
    voided: bool


class FullTracking(Closed):
    """What the receiver or sender sees after proving the last four digits of a phone."""

    tracking_no: str
    detail: Literal["full"]
    status: str
    flags: list[str]
    location: Location
    last_event: str | None
    last_event_at: str | None
    promised_by: str | None
    eta: DeliveryRange | None = Field(description="the prediction now, from the parcel's "
                                      "latest scan (null: delivered, or nothing to go on)")
    eta_original: DeliveryRange | None = Field(description="the prediction made at pickup, "
                                               "kept as it was")
    next_expected: NextExpected | None
    open_exceptions: int
    delivered: Delivered | None
    service_level: str | None
    origin: str | None
    destination: str | None
    receiver: MaskedParty | None
    sender: MaskedParty | None
    timeline: list[TimelineEntry]


Tracking = Annotated[CoarseTracking | FullTracking, Field(discriminator="detail")]


# ---- audit ---------------------------------------------------------------------------


class OpenException(Closed):
    id: str
    code: str
    status: str


class HistoryEvent(Closed):
    version: int
    type: str
    occurred_at: str
    recorded_at: str
    device_id: str | None
    operator_id: str | None
    details: dict[str, Any]
    previous_hash: str
    event_hash: str


class History(Closed):
    tracking_no: str
    as_of: str | None
    recorded_by: str | None
    status: str
    flags: list[str]
    location: str | None
    open_exceptions: list[OpenException]
    events: list[HistoryEvent]


# ---- exceptions ----------------------------------------------------------------------


class QueueRow(BaseModel):
    """One exception in the queue (the exception-queue read model's row)."""

    exception_id: str
    tracking_no: str
    code: str
    severity: str
    team: str = Field(description="the team that must act: the rule's team, or the team "
                      "it was handed to")
    customer_facing: int
    customer_tier: str
    priority: int
    status: str
    auto: int
    detail: str | None
    facility: str | None
    occurred_at: str
    raised_at: str
    raised_by: str | None
    first_response_due: str | None
    resolution_due: str | None = Field(description="null while the clocks stand still "
                                       "(waiting on the customer or a third party)")
    next_due: str | None
    clock_basis: str = Field(description="what the resolution clock counts: calendar or "
                             "business time (the acting team's working hours)")
    calendar: str = Field(description="the team calendar business time is read in")
    waiting_since: str | None = Field(description="since when it waits on the customer or "
                                      "a third party (status awaiting_*)")
    acknowledged_at: str | None
    acknowledged_by: str | None
    assignee: str | None = Field(description="the person who has it (staff:NAME): the first "
                                 "to acknowledge it, or whom it was handed or escalated to")
    resolved_at: str | None
    resolved_by: str | None
    outcome: str | None
    note: str | None
    first_response_met: int | None = Field(description="1 met, 0 missed, null not yet "
                                           "(or raised and closed by the system)")
    resolution_met: int | None
    occurrence: str = Field(description=(
        "what it was raised for (one exception per occurrence): a scan id, `manifest`, "
        "`quiet:<last scan>`, `promise:<promised time>`, `raised@<version>` (by hand), "
        "`complaint:<complaint id>`"))
    handovers: int
    contacts: int = Field(description="customer contacts recorded (their summaries are "
                          "sealed: GET the exception as an auditor)")
    last_contact_at: str | None
    last_contact_channel: str | None
    escalation_level: int
    escalated_to: str | None
    escalated_at: str | None
    first_response_breached_at: str | None
    resolution_breached_at: str | None
    reopened_at: str | None
    reopen_count: int
    complaints: list[str]
    claims: list[str]
    condition_ended: str | None = Field(description=(
        "what ended the exception's condition while someone had it (it stays theirs to "
        "close), e.g. `moving again: scanned again at SHA-HUB-02`"))
    condition_ended_at: str | None = Field(description="when that happened (the scan's time)")


class Queue(Closed):
    count: int
    position: int = Field(description="the exception queue's position in the log")
    exceptions: list[QueueRow]


class RaiseException(Closed):
    tracking_no: TrackingNoField
    code: ExceptionCode
    detail: PlainText = Field("", max_length=500, description="what staff saw; no personal data")


class OnParcel(Closed):
    tracking_no: TrackingNoField = Field(description="the parcel the exception belongs to")


class ResolveException(OnParcel):
    outcome: Literal[tuple(o.value for o in Outcome if o in STAFF_OUTCOMES)]  # type: ignore[valid-type]
    note: PlainText | None = Field(None, max_length=500)


StaffName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
                                 description="a staff member's credential name")]
TeamName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")]


class HandOver(OnParcel):
    # "At least one of": said in the schema too, so the OpenAPI document is the contract.
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "anyOf": [{"required": [name], "properties": {name: {"type": "string"}}}
                  for name in ("to_agent", "to_team")]})

    to_agent: StaffName | None = None
    to_team: TeamName | None = None
    note: PlainText | None = Field(None, max_length=500)

    @model_validator(mode="after")
    def _someone(self) -> HandOver:
        if not (self.to_agent or self.to_team):
            raise ValueError("hand over to_agent, to_team, or both")
        return self


class Contact(OnParcel):
    channel: Channel
    summary: PlainText | None = Field(None, max_length=2000, description=(
        "what was said; personal data allowed: it is sealed with the parcel's key, never "
        "shown in the queue or logged"))


class Escalate(OnParcel):
    reason: PlainText = Field(min_length=1, max_length=500)
    to: TeamName | None = Field(None, description="default: the policy's escalation team")
    assignee: StaffName | None = Field(None, description=(
        "the new assignee (a supervisor's act, or the current assignee's)"))


class Reopen(OnParcel):
    reason: PlainText = Field(min_length=1, max_length=500)


class AwaitAnswer(OnParcel):
    on: Literal["customer", "third_party"] = Field(description="who must answer")
    reason: PlainText | None = Field(None, max_length=500)


class Resume(OnParcel):
    note: PlainText | None = Field(None, max_length=500)


class ActionDone(Closed):
    exception_id: str
    tracking_no: str
    action: str
    position: int = Field(description="the log position the step reached; the queue shows "
                          "it once its own position reaches this")


# ---- follow-ups -----------------------------------------------------------------------


class FollowUpRow(BaseModel):
    """One follow-up call to make (the cases read model's row)."""

    follow_up_id: str
    tracking_no: str
    exception_id: str | None = Field(description="the resolved exception it follows (null: "
                                     "a low rating of the delivery)")
    complaint_id: str | None
    code: str = Field(description="the exception's code, or low_rating")
    assignee: str | None = Field(description="the person who had the exception; a "
                                 "not_satisfied answer reopens it to them")
    level: Literal["standard", "complaint"] = Field(
        description="complaint: after a rating of 1-2, on the shorter clock")
    since: str = Field(description="the resolution or rating it follows")
    due: str = Field(description="on the follow-up clock (policy: 24 business hours; "
                     "complaint level 4)")
    clock_basis: str
    calendar: str
    status: Literal["due", "done"]
    attempts: int = Field(description="calls that did not get through")
    outcome: str | None
    last_step_at: str | None
    last_step_by: str | None
    closed_at: str | None


class FollowUpList(Closed):
    count: int
    position: int = Field(description="the cases read model's position in the log")
    follow_ups: list[FollowUpRow]


class RecordFollowUp(Closed):
    tracking_no: TrackingNoField
    outcome: Literal["reached", "not_reached", "satisfied", "not_satisfied"]
    note: PlainText | None = Field(None, max_length=500, description="sealed; never logged")


class FollowUpDone(Closed):
    follow_up_id: str
    tracking_no: str
    outcome: str
    position: int


# ---- satisfaction surveys -------------------------------------------------------------


class SurveyQuestion(Closed):
    tracking_no: str
    occasion: Literal["delivery", "resolution"]
    answered: bool = Field(description="a parcel is rated once per occasion")
    scale: list[int] = Field(description="lowest and highest rating")


class SurveyAnswer(Closed):
    rating: int = Field(ge=1, le=5)
    comment: PlainText | None = Field(None, max_length=500,
                                      description="the customer's words (sealed; never logged)")


class SurveyAnswered(Closed):
    tracking_no: str
    position: int
    follow_up_id: str | None = Field(description="the complaint-level follow-up a rating of "
                                     "1-2 made due")


class SurveyLinkRequest(Closed):
    tracking_no: TrackingNoField
    exception_id: str | None = Field(None, pattern=r"^[0-9a-f-]{36}$", description=(
        "the resolved exception to ask about; absent: the delivery"))


class SurveyLink(Closed):
    url: str


# ---- operations ----------------------------------------------------------------------


class Health(Closed):
    status: Literal["ok"]


class ProjectionLag(Closed):
    projection: str
    position: int
    head: int
    behind: int
    seconds_behind: float


class Readiness(Closed):
    status: Literal["ready", "not_ready"]
    database: bool
    projections: list[ProjectionLag]
    reasons: list[str]


# ---- corrections -----------------------------------------------------------------------


class VoidScan(Closed):
    """The scan did not happen."""

    action: Literal["void"]
    scan_id: Identifier = Field(description="the scan to correct, as its scanner sent it")
    reason: PlainText = Field(min_length=1, max_length=500,
                              description="why (kept in the history)")


_AT_LEAST_ONE_CHANGE = {"anyOf": [{"required": ["facility"]}, {"required": ["occurred_at"]},
                                  {"required": ["next_facility"]}]}


class AmendScan(Closed):
    """The scan said something else: at least one of facility, occurred_at, next_facility."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_AT_LEAST_ONE_CHANGE)

    action: Literal["amend"]
    scan_id: Identifier = Field(description="the scan to correct, as its scanner sent it")
    reason: PlainText = Field(min_length=1, max_length=500,
                              description="why (kept in the history)")
    # Not nullable: leave a field out to keep it.
    facility: FacilityCode = Field(None, description="where it really was")  # type: ignore[assignment]
    occurred_at: Timestamp = Field(None, description="when it really happened")  # type: ignore[assignment]
    next_facility: FacilityCode = Field(None, description="where it went next")  # type: ignore[assignment]

    @model_validator(mode="after")
    def _changes_something(self) -> AmendScan:
        if self.facility is None and self.occurred_at is None and self.next_facility is None:
            raise ValueError("an amendment changes at least one of facility, occurred_at, "
                             "next_facility")
        return self


CorrectionRequest = Annotated[VoidScan | AmendScan, Field(discriminator="action")]


class CorrectionDone(Closed):
    tracking_no: str
    scan_id: str
    action: str
    target_version: int = Field(description="the corrected scan's event")
    version: int = Field(description="the correction's own event")
    position: int = Field(description="log head after the correction; read models show it "
                          "once their position reaches this")


# ---- statistics ----------------------------------------------------------------------


class StatsRow(Closed):
    """One facility's figures on a day (or the network's)."""

    scans: int
    parcels: int
    deliveries: int
    on_time_deliveries: int
    on_time_rate: float | None
    exceptions: dict[str, int] = Field(description="exceptions by code")
    hub_visits: int
    scan_compliance: float | None
    first_response_sla: float | None
    resolution_sla: float | None
    unknown_facility_scans: int = Field(description=(
        "a data-quality problem: scans kept although their facility is not in the network "
        "registry"))


class PredictionFigures(Closed):
    deliveries: int = Field(description="delivered parcels that had a prediction")
    inside_range: float | None = Field(description="share delivered between earliest and "
                                       "latest (0 to 1)")
    mae_hours: float | None = Field(description="mean absolute error of the likely time, "
                                    "in hours")


class PredictionAccuracy(Closed):
    of: str = Field(description="which prediction is judged: the original, made at pickup")
    overall: PredictionFigures
    lanes: dict[str, PredictionFigures] = Field(description="per lane, ORIGIN-DESTINATION "
                                                "(city codes)")


class StatsReport(Closed):
    day: str
    network: StatsRow
    facilities: dict[str, StatsRow]
    eta_accuracy: PredictionAccuracy = Field(description="how right the predicted delivery "
                                             "dates were, over every delivery so far")
