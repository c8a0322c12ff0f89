"""What every `parcelflow` sub-CLI shares: the consoles, failing with a message, the
`--json` flag, times given on the command line, the service, and catching up a read model.

User data is never markup. Tracking numbers, reasons, names and free text reach these
consoles from files and from the store; with Rich's markup on, a `[/bold]` in them
crashed the command (MarkupError) and a `[bold red]` silently changed what was printed.
So the consoles print text as it is (no markup, no `:emoji:` codes), and what we
emphasise ourselves is a style on a `Text` (`styled`), never brackets in a string.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, tzinfo
from datetime import time as dtime
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text

from parcelflow.application.errors import ParcelNotFound, TextTooLong
from parcelflow.application.service import ParcelService
from parcelflow.domain.errors import DomainError
from parcelflow.domain.vocabulary import STAFF_OUTCOMES, Outcome

if TYPE_CHECKING:  # the projections are loaded only by the commands that read them
    from parcelflow.projections.runner import Runner

out = Console(markup=False, emoji=False)
err = Console(stderr=True, markup=False, emoji=False)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
By = Annotated[str, typer.Option("--by", help="Who does this (agent or system id).")]


def styled(*parts: str | tuple[str, str]) -> Text:
    """A line with our own emphasis: plain strings as they are, (text, style) styled."""
    return Text.assemble(*parts)


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(styled(("error:", "red"), " ", message), highlight=False)
    raise typer.Exit(code)


@contextmanager
def refusals() -> Iterator[None]:
    """Refusals a user can act on, as one line and exit status 1."""
    try:
        yield
    except (DomainError, ParcelNotFound, TextTooLong) as e:
        fail(str(e))


def print_json(data: Any) -> None:
    """One JSON document on a line of its own (flushed: `detect --every` streams them)."""
    print(json.dumps(data, ensure_ascii=False), flush=True)


def emit(data: dict[str, Any], as_json: bool, line: str) -> None:
    """`data` as JSON with --json, else one line for a person."""
    if as_json:
        print_json(data)
    else:
        out.print(line, highlight=False, soft_wrap=True)


def one_of(help: str, choices: type[Enum]) -> str:
    """An option's help followed by its choices, from the Enum typer checks against
    (the type column would otherwise wrap a long list mid-word)."""
    return f"{help} One of: {', '.join(str(c.value) for c in choices)}."


# What staff may close an exception or a complaint with (`cleared` is the system's).
StaffOutcome = StrEnum(  # type: ignore[misc]
    "StaffOutcome", {o.name: o.value for o in Outcome if o in STAFF_OUTCOMES})


def parse_time(value: str, option: str = "time") -> datetime:
    """A timestamp option, by the wire's one rule (ISO 8601 with an offset, 2000–2100)."""
    from parcelflow.wire.common import parse_timestamp

    try:
        return parse_timestamp(value)
    except ValueError as e:
        fail(f"{option}: {e}", 2)


def period_bound(value: str, zone: tzinfo) -> datetime:
    """A --from/--to option: a calendar day (at midnight in the network's time zone) or
    a timestamp."""
    if len(value) == 10:
        try:
            day = datetime.fromisoformat(value).date()
        except ValueError:
            fail(f"{value!r} is not a date (YYYY-MM-DD)", 2)
        return parse_time(datetime.combine(day, dtime(), zone).isoformat(), "period bound")
    return parse_time(value, "period bound")


def tracking_number(value: str | None) -> str | None:
    """A TRACKING_NO argument, in one of the configured formats (a typer callback)."""
    from parcelflow.settings import get_settings

    problem = get_settings().tracking_numbers().problem(value) if value is not None else None
    if problem:
        raise typer.BadParameter(problem)
    return value


TrackingArg = Annotated[str, typer.Argument(help="The parcel's tracking number.",
                                            callback=tracking_number)]


def wall_clock(svc: ParcelService) -> Callable[[str | None], str]:
    """Stored times (ISO 8601) as the network's wall clock, to the minute; "—" for none."""
    zone = svc.network.zone

    def local(value: str | None) -> str:
        if not value:
            return "—"
        return datetime.fromisoformat(value).astimezone(zone).strftime("%Y-%m-%d %H:%M")

    return local


def service() -> ParcelService:
    from parcelflow.bootstrap import build_service

    return build_service()


def runners(svc: ParcelService, names: list[str] | None = None) -> list[Runner]:
    """The named read models' runners (default: every one)."""
    from parcelflow.projections.registry import runners as build

    return build(svc, [str(n) for n in names or ()])


def catch_up(svc: ParcelService, name: str) -> Runner:
    """Read-your-writes: bring one read model up to the log's head, then read it."""
    [runner] = runners(svc, [name])
    runner.run()
    return runner
