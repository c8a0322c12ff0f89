"""The tracking view: one row per parcel, what a customer (or the API) looks up.

Status, flags, where the parcel is, its last event, promised time and ETA, the next
expected activity, open exceptions, delivery, and its timeline in occurred order with
late scans in their place and voided events marked. Personal data appears only masked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timezone
from typing import Any

import orjson
from eventsourcing.persistence import Tracking

from parcelflow.application.describe import city_name, describe
from parcelflow.domain.times import instant
from parcelflow.domain.privacy import ERASED, mask_signature
from parcelflow.application.errors import ParcelNotFound
from parcelflow.application.personal_data import Opener, is_sealed
from parcelflow.application.service import ParcelService
from parcelflow.domain.eta import estimate_eta, next_expected
from parcelflow.domain.parcel import Parcel
from parcelflow.domain.transit_times import (
    Prediction,
    current_prediction,
    first_pickup,
    original_prediction,
)
from parcelflow.adapters.transcoder import written_as_isoformat
from parcelflow.adapters.transit_models import ModelsInForce, models_in_force
from parcelflow.projections.base import BoundedCache, ParcelProjection, Replica, ViewStore


_UTC_TEXTS: dict[datetime, str] = {}  # see utc
_UTC_CACHE = 8192


def utc(moment: datetime | None) -> str | None:
    """Stored form of a time: UTC ISO 8601, which sorts as text in both backends (the
    detectors' `instant`, which their SQL matches against these columns).

    Remembered by value for fixed-offset times (the store's: domain/times.py): a row
    has about eleven of them, mostly the same few (a parcel's last scan is its last
    event and often its delivery), and `astimezone().isoformat()` was 7% of a rebuild's
    rendering (cProfile). Equal aware datetimes are one instant, whose UTC text is one
    text, so a hit is exactly what `instant` returns."""
    if moment is None:
        return None
    if type(moment.tzinfo) is not timezone:
        return instant(moment)
    text = _UTC_TEXTS.get(moment)
    if text is None:
        if len(_UTC_TEXTS) >= _UTC_CACHE:
            _UTC_TEXTS.clear()
        text = _UTC_TEXTS[moment] = instant(moment)
    return text


COLUMNS = (
    "tracking_no", "parcel_id", "version", "status", "flags", "facility", "city",
    "last_event", "last_event_at", "last_scan_at", "promised_by", "eta", "next_activity",
    "next_facility", "open_exceptions", "delivered_at", "signed_by", "service_level",
    "customer_tier", "origin", "destination", "manifested", "receiver", "sender", "timeline",
    "data_problems", "eta_current", "eta_original",
)


class TrackingViewStore(ViewStore):
    name = "tracking"
    tables = ("tracking_view",)
    json_columns = frozenset({"flags", "receiver", "sender", "timeline", "data_problems",
                              "eta_current", "eta_original"})
    create_statements = (
        "CREATE TABLE IF NOT EXISTS tracking_view ("
        "tracking_no TEXT PRIMARY KEY, parcel_id TEXT NOT NULL, version INTEGER NOT NULL, "
        "status TEXT NOT NULL, flags TEXT NOT NULL, facility TEXT, city TEXT, "
        "last_event TEXT, last_event_at TEXT, last_scan_at TEXT, promised_by TEXT, eta TEXT, "
        "next_activity TEXT, next_facility TEXT, open_exceptions INTEGER NOT NULL, "
        "delivered_at TEXT, signed_by TEXT, service_level TEXT, customer_tier TEXT, "
        "origin TEXT, destination TEXT, manifested INTEGER NOT NULL, receiver TEXT, "
        "sender TEXT, timeline TEXT NOT NULL, data_problems TEXT NOT NULL, "
        # The predicted delivery range (JSON, domain/transit_times.py): now, and as first
        # predicted at pickup. `eta` is the network's fixed-hours time the detectors use.
        "eta_current TEXT, eta_original TEXT)",
        # The detectors' access paths (projections/watchlist.py): active parcels by how
        # long they have been quiet, late ones by status and promised time, and the few
        # whose ETA slipped past their promise (a partial index: two columns compared).
        "CREATE INDEX IF NOT EXISTS tracking_view_status_quiet "
        "ON tracking_view (status, last_scan_at)",
        "CREATE INDEX IF NOT EXISTS tracking_view_status_promised "
        "ON tracking_view (status, promised_by)",
        "CREATE INDEX IF NOT EXISTS tracking_view_eta_slipped "
        "ON tracking_view (status) WHERE eta > promised_by",
    )

    def create_views(self) -> None:
        # A view written before data problems were shown (issue 16), or before the
        # predicted range (issue 14), is rebuilt.
        self.rebuild_if_older("tracking_view", set(COLUMNS))
        super().create_views()

    def write_rows(self, rows: list[dict[str, Any]], tracking: Tracking | None) -> None:
        with self.writing(tracking) as c:
            self.upsert(c, "tracking_view", "tracking_no", COLUMNS, rows)

    def insert_rows(self, rows: list[dict[str, Any]]) -> None:
        """Rows of parcels not in the view yet (a rebuild): see `ViewStore.insert_new`."""
        self.insert_new("tracking_view", "tracking_no", COLUMNS, rows)

    def get(self, tracking_no: str) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM tracking_view WHERE tracking_no = ?", [tracking_no])
        return decode(rows[0]) if rows else None

    def all(self) -> list[dict[str, Any]]:
        return [decode(r) for r in self.query("SELECT * FROM tracking_view ORDER BY tracking_no")]

    def count(self) -> int:
        return int(self.query("SELECT COUNT(*) AS n FROM tracking_view")[0]["n"])


def decode(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as the view's JSON shape."""
    out = TrackingViewStore.decoded(row)
    out["manifested"] = bool(out["manifested"])
    return out


def _compact(written: bytes) -> bytes:
    """`written` in memory of its own size (see `Renderer._timeline`)."""
    return b"%b" % written


def _models_if_tables(service: Any) -> ModelsInForce | None:
    """The learned models of a store with SQL tables (read when first asked); None for
    one without (an in-memory store in a unit test), read lazily by `Renderer.models`."""
    try:
        return models_in_force(service)
    except (TypeError, AttributeError):
        return None


class Renderer:
    """Renders parcels as tracking-view rows, remembering what does not change.

    A parcel's personal data changes only with its manifest, a redirect or an erasure,
    and a timeline line only when its entry is replaced (a void or an amendment). Both
    are remembered, so a busy parcel is not decrypted, masked and described again at
    every scan.
    """

    def __init__(self, service: ParcelService, size: int = 20_000):
        self.service = service
        # (sealed, erased) -> masked JSON: a parcel's receiver, its sender and whoever
        # signed for it, so three a parcel for the replica's `size` parcels. It held
        # `size`: with the replica full, half of its parcels' parties were forgotten, and
        # a scan of one of those opened (decrypted and masked) them again
        # (tests/integration/test_tracking_renderer_memory.py).
        self._parties: BoundedCache = BoundedCache(3 * size)
        self._lines: BoundedCache = BoundedCache(size)  # parcel id -> {version: (entry, line)}
        # The model table is made here, on the thread that builds the view, not on the
        # follower's thread at its first row: making a table takes two pooled
        # connections (the schema lock's and the DDL's), which a follower's small pool
        # (PARCELFLOW_DATABASE_POOL_SIZE=2, one of them listening) cannot give: it hung.
        self._models: ModelsInForce | None = _models_if_tables(service)
        self._words: BoundedCache = BoundedCache(4096)  # a scan's fields -> its masked line
        self._cities: BoundedCache = BoundedCache(4096)  # facility -> city name
        # parcel id -> (first pickup, manifest, model, the original prediction written)
        self._originals: BoundedCache = BoundedCache(size)

    @property
    def models(self) -> ModelsInForce:
        if self._models is None:  # read when first needed: a view of no parcels reads none
            self._models = models_in_force(self.service)
        return self._models

    def rows(self, parcels: Iterable[Parcel], *, remember: bool = True,
             opener: Opener | None = None) -> list[dict[str, Any]]:
        """`remember=False` for parcels rendered once (a rebuild's): their parties and
        lines would only be stored, never found again (words and cities still are).
        `opener`: one holding the keys of every one of these parcels (read ahead);
        without it, the keys of those with something to open are read here."""
        parcels = list(parcels)
        if opener is None:
            unopened = [p.id for p in parcels
                        for sealed in (*self._sealed(p), *self._signatures(p))
                        if (sealed, p.erased) not in self._parties]
            opener = self.service.personal.opener(unopened) if unopened else None
        return [self.row(p, opener, remember) for p in parcels]

    @staticmethod
    def _signatures(parcel: Parcel) -> list[str]:
        """Who signed for each delivery scan, where it is sealed (a name, not a role)."""
        # Only the entries that name a signer, which the timeline keeps apart: a
        # follower asks this of every parcel it renders, and walking all of a parcel's
        # entries was ~6% of its main thread (py-spy; bench/profiles, phase 13).
        return [signed for e in parcel.entries.signed()
                if is_sealed(signed := e.scan.signed_by)]  # type: ignore[union-attr]

    def _signature(self, parcel: Parcel, signed_by: str | None, opener: Opener | None,
                   remember: bool = True) -> str | None:
        """Who signed, as customers see it: a role word as it is, a name masked (opened
        from its seal once per parcel, [erased] once erased)."""
        if signed_by is None or not is_sealed(signed_by):
            return mask_signature(signed_by) if signed_by else signed_by
        key = (signed_by, parcel.erased)
        shown = self._parties.get(key)
        if shown is None:
            assert opener is not None
            shown = opener.text(parcel.id, signed_by, mask=mask_signature) or ERASED
            if remember:
                self._parties[key] = shown
        return shown  # type: ignore[no-any-return]

    @staticmethod
    def _sealed(parcel: Parcel) -> list[str]:
        sealed = [parcel.receiver_sealed, parcel.manifest.sender_sealed if parcel.manifest else None]
        return [s for s in sealed if s is not None]

    def _party(self, parcel: Parcel, sealed: str | None, opener: Opener | None,
               remember: bool = True) -> str | None:
        if sealed is None:
            return None
        key = (sealed, parcel.erased)
        shown = self._parties.get(key)
        if shown is None:
            assert opener is not None
            shown = orjson.dumps(opener.open(parcel.id, sealed)).decode()  # masked, or [erased]
            if remember:
                self._parties[key] = shown
        return shown

    def _timeline(self, parcel: Parcel, opener: Opener | None, remember: bool = True) -> str:
        if not remember:
            # Rendered once (a rebuild): the lines written in one call, nothing kept.
            # orjson writes a list as its items' own texts joined by commas, so this is
            # the text the joined lines below make (tests/integration/test_tracking_rebuild.py
            # compares a rebuilt view with the followed one byte for byte).
            return orjson.dumps([self._line(parcel, entry, opener, False)
                                 for entry in parcel.state.timeline]).decode()
        # An erasure changes what a signature line says: the lines are remembered per
        # parcel and erasure state.
        known = self._lines.get((parcel.id, parcel.erased))
        if known is None:
            known = self._lines[(parcel.id, parcel.erased)] = {}
        lines: list[bytes] = []
        for entry in parcel.state.timeline:
            cached = known.get(entry.version)
            if cached is None or cached[0] is not entry:
                # Kept written: a follower renders a parcel's timeline again at every
                # scan, and writing every line again each time was ~4 us of them. Kept
                # as a copy: a line as orjson returns it holds ~4 KiB of the process's
                # memory while it lives (its buffer shrunk in place: measured by RSS,
                # 4.0 KiB a 195-byte line against 0.24 KiB copied), which tripled a
                # follower's memory per parcel (bench/memory.py: 7,110 against 2,538
                # MiB per 100,000; tests/integration/test_tracking_renderer_memory.py).
                cached = known[entry.version] = (
                    entry, _compact(orjson.dumps(self._line(parcel, entry, opener, True))))
            lines.append(cached[1])
        return (b"[%b]" % b",".join(lines)).decode()

    def _line(self, parcel: Parcel, entry: Any, opener: Opener | None,
              remember: bool) -> dict[str, Any]:
        """One timeline line as customers see it (masked)."""
        shown = entry
        if entry.scan is not None and is_sealed(entry.scan.signed_by):
            shown = replace(entry, scan=replace(entry.scan, signed_by=self._signature(
                parcel, entry.scan.signed_by, opener, remember)))
        scan = shown.scan
        at = entry.occurred_at
        return {
            "version": entry.version,
            "type": entry.kind,
            # orjson writes the datetime itself where its text is isoformat()'s
            # (whole-minute fixed offsets, what the store reads back): one
            # isoformat() fewer a line, ~8% of the timeline's time (py-spy).
            "occurred_at": at if written_as_isoformat(at.tzinfo) else at.isoformat(),
            "facility": scan.facility if scan else None,
            "city": self._city(scan.facility) if scan else None,
            "description": self._scan_line(shown) if scan else describe(
                shown, self.service.network, masked=True),
            "late": entry.late,
            "voided": entry.voided,
        }

    def _scan_line(self, entry: Any) -> str:
        """A scan's line as customers read it (`describe`, masked). It depends on the
        scan's type, places, codes and who signed (already masked here) only, and a
        network has few of those: each distinct line is worded and scrubbed once."""
        scan = entry.scan
        key = (scan.scan_type, scan.facility, scan.next_facility, scan.exception_code,
               scan.attempt_reason, scan.signed_by)
        line = self._words.get(key)
        if line is None:
            line = self._words[key] = describe(entry, self.service.network, masked=True)
        return line  # type: ignore[no-any-return]

    def _city(self, facility: str | None) -> str | None:
        try:
            return self._cities[facility]  # type: ignore[no-any-return]
        except KeyError:
            city = self._cities[facility] = city_name(facility, self.service.network)
            return city

    def _original(self, parcel: Parcel, state: Any, manifest: Any, remember: bool = True
                  ) -> str | None:
        """The original prediction, written (`original_prediction`): made again only when
        its parts changed (another first scan, manifest or model in force), not at
        every scan, which was ~5 us of a follower's row."""
        pickup = first_pickup(state)
        if manifest is None or pickup is None:
            return None
        model = self.models(pickup.recorded_at)
        known = self._originals.get(parcel.id)
        if known is not None and known[0] is pickup and known[1] is manifest \
                and known[2] is model:
            return known[3]  # type: ignore[no-any-return]
        shown = _prediction(original_prediction(manifest, pickup, model, self.service.network))
        if remember:
            self._originals[parcel.id] = (pickup, manifest, model, shown)
        return shown

    def row(self, parcel: Parcel, opener: Opener | None, remember: bool = True) -> dict[str, Any]:
        state = parcel.state
        network = self.service.network
        manifest = parcel.manifest
        step = next_expected(state, manifest, network)
        last = state.last_event
        eta = estimate_eta(state, manifest, network, revised=parcel.eta)
        current = current_prediction(state, manifest, network, self.models,
                                     revised=parcel.eta, fixed_now=eta)
        return {
            "tracking_no": parcel.tracking_no,
            "parcel_id": str(parcel.id),
            "version": parcel.version,
            "status": str(state.status),
            "flags": orjson.dumps(sorted(str(f) for f in state.flags)).decode()
            if state.flags else "[]",
            "facility": state.location,
            "city": self._city(state.location),
            "last_event": last.kind if last else None,
            "last_event_at": utc(last.occurred_at) if last else None,
            "last_scan_at": utc(state.last_scan_at),
            "promised_by": utc(parcel.promised_by),
            "eta": utc(eta),
            "next_activity": step.activity if step else None,
            "next_facility": step.facility if step else None,
            "open_exceptions": len(parcel.open_exceptions),
            "delivered_at": utc(state.delivered.at) if state.delivered else None,
            "signed_by": self._signature(parcel, state.delivered.signed_by, opener, remember)
            if state.delivered and state.delivered.signed_by else None,
            "service_level": str(manifest.service_level) if manifest else None,
            "customer_tier": str(manifest.customer_tier) if manifest else None,
            "origin": manifest.origin if manifest else None,
            "destination": manifest.destination if manifest else None,
            "manifested": int(manifest is not None),
            "receiver": self._party(parcel, parcel.receiver_sealed, opener, remember),
            "sender": self._party(parcel, manifest.sender_sealed if manifest else None, opener,
                                  remember),
            "timeline": self._timeline(parcel, opener, remember),
            # Kept, and flagged: a scan at a facility the registry does not know.
            "data_problems": orjson.dumps([
                {"problem": "unknown_facility", "facility": s.facility, "scan_id": s.scan_id,
                 "occurred_at": utc(s.occurred_at)}
                for s in state.unknown_facility_scans]).decode()
            if state.unknown_facility_scans else "[]",
            "eta_current": _prediction(current),
            "eta_original": self._original(parcel, state, manifest, remember),
        }


def _prediction(p: Prediction | None) -> str | None:
    """The prediction as the view stores it, its times in `utc`'s text. They are handed
    to orjson in UTC (`datetime.UTC`, whose text orjson writes as `isoformat()` does:
    `written_as_isoformat`): three `utc` look-ups a prediction fewer, two predictions
    a row, most of them misses in a rebuild (0.5% of its instructions, callgrind).
    tests/unit/test_tracking_prediction_text.py compares the text with `utc`'s."""
    if p is None:
        return None
    return orjson.dumps({"earliest": p.earliest.astimezone(UTC),
                         "likely": p.likely.astimezone(UTC),
                         "latest": p.latest.astimezone(UTC),
                         "confidence": p.confidence, "basis": p.basis}).decode()


class TrackingView(ParcelProjection):
    name = "tracking"
    store = TrackingViewStore

    def __init__(self, view: ViewStore, replica: Replica):
        super().__init__(view, replica)
        self.renderer = Renderer(replica.service, replica.size)

    def prepare(self, events: Any) -> list[dict[str, Any]]:
        return self.renderer.rows(self.replica.apply(events).values())

    def preload(self, ids: Any) -> Opener:
        # The chunk's keys, read on the rebuild's reader thread: the rendering thread,
        # which sets a rebuild's pace, no longer waits for them (2-3% of its time).
        return self.service.personal.opener(ids)

    def prepare_new(self, events: Any, preloaded: Opener | None = None) -> list[dict[str, Any]]:
        # A rebuild's chunk: every parcel rendered here is rendered once, so nothing of
        # it is remembered (the follower's renderer is left as it was).
        return self.renderer.rows(self.replica.whole(events).values(), remember=False,
                                  opener=preloaded)

    def commit(self, prepared: list[dict[str, Any]], tracking: Tracking) -> None:
        assert isinstance(self.view, TrackingViewStore)
        self.view.write_rows(prepared, tracking)

    def commit_new(self, prepared: list[dict[str, Any]]) -> None:
        assert isinstance(self.view, TrackingViewStore)
        self.view.insert_rows(prepared)  # one row per parcel: a rebuild's rows are new



def as_seen(service: ParcelService, tracking_no: str, recorded_by: datetime
            ) -> dict[str, Any] | None:
    """The parcel's tracking-view row as customers were shown it at `recorded_by`: rendered
    from the events recorded by then, as the view rendered it once it had read them
    (status, ETA, next step, timeline; personal data masked). None: nothing recorded yet."""
    try:
        parcel = service.as_of(tracking_no, recorded_by)
    except ParcelNotFound:
        return None
    return decode(Renderer(service, size=16).rows([parcel])[0])
