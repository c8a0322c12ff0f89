"""Signed, expiring survey links, with `itsdangerous` (the signing library Flask and
Django's peers use): the token carries the tracking number, the occasion and the expiry,
signed with HMAC-SHA256 under PARCELFLOW_SURVEY_SECRET. Nothing in it is personal data
beyond the tracking number the tracking link already shows; nothing is stored to check
it, so any API process verifies any link.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from itsdangerous import BadData, URLSafeSerializer


class SurveyTokens:
    def __init__(self, secret: str):
        self._serializer = URLSafeSerializer(secret, salt="parcelflow.survey.v1")

    def issue(self, tracking_no: str, occasion: str, expires: datetime) -> str:
        return self._serializer.dumps({"t": tracking_no, "o": occasion,
                                       "x": expires.isoformat()})

    def read(self, token: str) -> tuple[str, str, datetime] | None:
        """(tracking number, occasion, expiry) of a token signed here; None otherwise."""
        try:
            data: Any = self._serializer.loads(token)
            return str(data["t"]), str(data["o"]), datetime.fromisoformat(data["x"])
        except (BadData, KeyError, TypeError, ValueError):
            return None
