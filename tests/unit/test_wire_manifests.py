from __future__ import annotations

import pytest

from parcelflow.wire.manifests import ManifestV1, RejectedManifest, validate_manifest
from tests.support.builders import manifest


def test_the_design_example_is_valid():
    result = validate_manifest(manifest())
    assert isinstance(result, ManifestV1)
    assert str(result.declared_value) == "1200.00" and result.receiver.language == "zh-CN"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"postage": 18.0}, 'postage: must be a decimal string such as "18.00"'),
        ({"postage": "18.001"}, "postage: at most 2 decimal places"),
        ({"declared_value": "-1.00"}, "non-negative"),
        ({"insured": "yes"}, "insured"),
        ({"service_level": "overnight"}, "service_level: not one of 'economy', 'standard'"),
        ({"origin": "Shenzhen"}, "origin"),
        ({"promised_by": "2026-11-24T18:00:00"}, "no timezone offset"),
        ({"customer_tier": "gold"}, "customer_tier"),
        ({"extra": 1}, "unknown field 'extra'"),
        ({"receiver": {**manifest()["receiver"], "address": "上海市\x00浦东新区"}},
         "receiver.address: must not contain control characters (found U+0000)"),
    ],
)
def test_bad_manifests_are_rejected_with_reasons(change, reason):
    result = validate_manifest(manifest(**change))
    assert isinstance(result, RejectedManifest) and reason in result.reason


def test_a_reason_never_repeats_personal_data():
    bad = manifest()
    bad["receiver"] = {**bad["receiver"], "phone": "139-8765-4321", "name": "李" * 70}
    result = validate_manifest(bad)
    assert isinstance(result, RejectedManifest)
    assert "receiver.phone" in result.reason and "receiver.name" in result.reason
    assert "8765" not in result.reason and "李李" not in result.reason
