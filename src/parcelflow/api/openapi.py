"""What the generated OpenAPI document does not know by itself: where the API is, which
operations need no credential, the headers clients send and read, and the tracking-number
formats this deployment accepts."""

from __future__ import annotations

from typing import Any

from parcelflow.api.auth import SIGNATURE_HEADER, TIMESTAMP_HEADER
from parcelflow.api.http import POSITION_HEADER, REPLAYED_HEADER
from parcelflow.api.middleware import OPS_PATHS
from parcelflow.api.problems import PROBLEM_JSON
from parcelflow.wire.tracking_numbers import TrackingNumbers

REF = "#/components/headers/"
SIGNED_OPERATIONS = {("post", "/v1/scans"), ("post", "/v1/parcels")}
IDEMPOTENT_OPERATIONS = SIGNED_OPERATIONS
_HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}

HEADERS: dict[str, dict[str, Any]] = {
    "RequestId": {"description": "the request's id (the client's own if it sent a plain "
                  "one): quote it when asking about a request",
                  "schema": {"type": "string", "pattern": r"^[A-Za-z0-9._:-]{1,64}$"}},
    "RetryAfter": {"description": "seconds to wait before trying again",
                   "schema": {"type": "integer", "minimum": 1}},
    "IdempotentReplayed": {"description": "present (true) when this is the stored answer "
                           "to an earlier request with the same Idempotency-Key",
                           "schema": {"type": "string", "enum": ["true"]}},
    "Position": {"description": "the log position this write reached: a read model shows "
                 "it once its position (GET /readyz) reaches this",
                 "schema": {"type": "integer", "minimum": 0}},
}

_REQUEST_ID_PARAMETER = {
    "name": "X-Request-Id", "in": "header", "required": False,
    "description": "your own id for this request: kept if it is 1 to 64 of A-Z a-z 0-9 . _ "
    ": -, else replaced by one the server makes (any value is accepted)",
    "schema": {"type": "string"},
}
_SIGNATURE_PARAMETERS = [
    {"name": TIMESTAMP_HEADER, "in": "header", "required": False,
     "description": "signed requests: Unix seconds, within the signature tolerance of the "
     "server clock", "schema": {"type": "string", "pattern": "^[0-9]{1,12}$"}},
    {"name": SIGNATURE_HEADER, "in": "header", "required": False,
     "description": 'signed requests: "v1=" and the hex HMAC-SHA256 under the key\'s signing '
     'secret of "{timestamp}\\n{METHOD}\\n{path}\\n" followed by the raw body (required for '
     "keys created with --require-signature)",
     "schema": {"type": "string", "pattern": "^v1=[0-9a-f]{64}$"}},
]


def _operations(doc: dict[str, Any]):  # type: ignore[no-untyped-def]
    for path, item in doc.get("paths", {}).items():
        for method, operation in item.items():
            if method in _HTTP_METHODS:
                yield path, method, operation


_TEXT_PATTERN = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"


def _no_controls(schema: dict[str, Any]) -> None:
    """Query strings are refused with control characters anywhere (middleware.QueryText)."""
    if schema.get("type") == "string" and "pattern" not in schema and "enum" not in schema \
            and "format" not in schema:
        schema["pattern"] = _TEXT_PATTERN
    for option in schema.get("anyOf", []):
        _no_controls(option)


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {
        "schema": {"$ref": "#/components/schemas/ProblemDetails"}}}}


def document_headers(doc: dict[str, Any]) -> None:
    doc["servers"] = [{"url": "/", "description": "this server (paths are relative to it)"}]
    doc.setdefault("components", {})["headers"] = HEADERS
    for path, method, operation in _operations(doc):
        responses = operation.setdefault("responses", {})
        # Any route: a query string that is not UTF-8 or holds control characters.
        responses.setdefault("400", _problem("Bad request"))
        if path in OPS_PATHS:
            responses.setdefault("429", _problem("Too many requests"))
        if method in ("post", "put", "patch"):
            responses.setdefault("408", _problem("The body did not arrive in time"))
            responses.setdefault("413", _problem("Content too large"))
        # An operation without a credential says so: no `security` would mean "as the
        # document's default", which tools read as unknown.
        operation.setdefault("security", [])
        parameters = operation.setdefault("parameters", [])
        for parameter in parameters:
            if parameter.get("in") == "query":
                _no_controls(parameter.get("schema", {}))
        parameters.append(_REQUEST_ID_PARAMETER)
        if (method, path) in SIGNED_OPERATIONS:
            parameters.extend(_SIGNATURE_PARAMETERS)
        for status, response in operation.get("responses", {}).items():
            headers = response.setdefault("headers", {})
            headers["X-Request-Id"] = {"$ref": REF + "RequestId"}
            if status == "429":
                headers["Retry-After"] = {"$ref": REF + "RetryAfter"}
            if status in ("200", "201") and POSITION_HEADER in headers:
                headers[POSITION_HEADER] = {"$ref": REF + "Position"}
            if status == "200" and (method, path) in IDEMPOTENT_OPERATIONS:
                headers[REPLAYED_HEADER] = {"$ref": REF + "IdempotentReplayed"}
            if status in ("200", "201") and path.startswith("/v1/exceptions") and method == "post":
                headers[POSITION_HEADER] = {"$ref": REF + "Position"}


def document_tracking_numbers(doc: dict[str, Any], formats: TrackingNumbers) -> None:
    """The configured formats in every place a tracking number is declared (the S10
    check digit is beyond a pattern: the description says so)."""
    pattern = formats.json_pattern()
    described = f"accepted formats: {formats.describe()}"
    for schema in doc.get("components", {}).get("schemas", {}).values():
        field = schema.get("properties", {}).get("tracking_no")
        if isinstance(field, dict) and "pattern" in field:
            field["pattern"] = pattern
            field.setdefault("description", described)
    for _, _, operation in _operations(doc):
        for parameter in operation.get("parameters", []):
            if parameter.get("name") == "tracking_no" and parameter.get("in") == "path":
                parameter["schema"] = {**parameter.get("schema", {}), "pattern": pattern}
                parameter["description"] = described
