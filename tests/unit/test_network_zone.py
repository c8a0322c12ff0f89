"""Days and times shown to people are in the network's own time zone, read from the
registry (the statistics' "today", the CLI's times, the customers' messages), not a
zone written into the code."""

from __future__ import annotations

from datetime import datetime, timezone

from parcelflow.domain.network import Network
from parcelflow.projections.daily_stats import today_in


def network(*zones: str) -> Network:
    return Network.from_dict({
        "cities": [{"code": "BER", "name_zh": "柏林", "name_en": "Berlin"}],
        "facilities": [{"code": f"BER-HUB-0{i}", "kind": "hub", "name_zh": "柏林", "name_en":
                        "Berlin Hub", "city": "BER", "timezone": zone}
                       for i, zone in enumerate(zones, start=1)],
        "lanes": [],
    })


def test_the_networks_zone_is_its_first_facilitys_and_decides_today():
    berlin = network("Europe/Berlin", "Asia/Shanghai")
    assert str(berlin.zone) == "Europe/Berlin"
    late = datetime(2026, 11, 22, 23, 30, tzinfo=timezone.utc)  # 00:30 on the 23rd in Berlin
    assert today_in(berlin, late) == "2026-11-23"
    assert today_in(network("America/New_York"), late) == "2026-11-22"
    assert network().zone == timezone.utc
