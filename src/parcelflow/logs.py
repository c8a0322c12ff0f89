"""Structured logs: JSON in production, key=value in a terminal. Never personal data."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, TextIO

import orjson
import structlog


def _orjson_text(value: object, **kw: Any) -> str:
    try:
        return orjson.dumps(value, default=kw.get("default"),
                            option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:  # what orjson refuses (an int beyond 64 bits): as before
        return json.dumps(value, ensure_ascii=False, **kw)


def configure_logging(fmt: str = "auto", level: str = "INFO", stream: TextIO | None = None) -> None:
    """Logs go to stderr, so a command's own output on stdout stays machine-readable.

    Context variables bound with structlog.contextvars (the API binds the request id for
    the length of each request) appear on every line written meanwhile.
    """
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    renderer: structlog.types.Processor = (
        # orjson rather than the standard library's json: the API writes a line per
        # request, and stdlib json was most of the access line's cost (py-spy on the
        # lookup, bench/profiles/README.md). UTF-8 as before (no \u escapes), keys in order.
        structlog.processors.JSONRenderer(serializer=_orjson_text)
        if fmt == "json"
        else structlog.processors.KeyValueRenderer(
            key_order=["timestamp", "level", "event"], drop_missing=True
        )
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelName(level.upper())
        ),
        logger_factory=structlog.PrintLoggerFactory(file=stream or sys.stderr),
        cache_logger_on_first_use=False,
    )
