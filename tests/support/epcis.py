"""Checking EPCIS exports with GS1's own artefacts: the EPCIS 2.0 JSON Schema (vendored,
see tests/data/epcis/README.md) and the reference event-hash implementation
(`epcis-event-hash-generator`, GS1's published algorithm)."""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema_rs

SCHEMA = Path(__file__).resolve().parents[1] / "data" / "epcis" / "EPCISDocument.schema.json"


@lru_cache(maxsize=1)
def _validator() -> Any:
    return jsonschema_rs.Draft7Validator(json.loads(SCHEMA.read_text()), validate_formats=True)


def schema_errors(document: dict[str, Any]) -> list[str]:
    """What GS1's schema says is wrong with an EPCISDocument (or a stand-alone event)."""
    return [f"{list(e.instance_path)}: {e.message}"
            for e in _validator().iter_errors(json.loads(json.dumps(document)))]


def reference_hashes(document: dict[str, Any]) -> list[str]:
    """Each event's hash as GS1's reference implementation computes it."""
    from epcis_event_hash_generator import hash_generator, json_to_py

    events = json_to_py.event_list_from_epcis_document_json(copy.deepcopy(document))
    return hash_generator.epcis_hashes_from_events(events)
