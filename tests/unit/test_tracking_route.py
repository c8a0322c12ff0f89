"""The route the tracking page draws: origin, the hubs passed, destination, by city, and
how far along it a parcel is."""

from __future__ import annotations

from parcelflow.bootstrap import load_network
from parcelflow.web.i18n import Catalogue
from parcelflow.web.track_view import Words, route

NETWORK = load_network()
EN = Words(Catalogue.load(), "en")
ZH = Words(Catalogue.load(), "zh-CN")


def _row(status: str, *facilities: str) -> dict:
    return {"origin": "SZX", "destination": "SHA", "status": status,
            "timeline": [{"facility": f, "voided": False} for f in facilities]}


def test_a_parcel_at_the_destination_hub_has_passed_three_of_four_stops():
    drawn = route(_row("at_facility", "SZX-OUT-07", "SZX-HUB-01", "SHA-HUB-02"), NETWORK, EN)
    assert [s.label for s in drawn.stops] == ["Shenzhen", "Shenzhen hub", "Shanghai hub",
                                              "Shanghai"]
    assert [s.done for s in drawn.stops] == [True, True, True, False]
    assert [s.label for s in drawn.stops if s.current] == ["Shanghai hub"]
    assert drawn.label == ("Route: Shenzhen → Shenzhen hub → Shanghai hub → Shanghai. "
                           "Now: Shanghai hub.")


def test_a_hub_off_the_way_is_drawn_as_a_stop_of_its_own():
    drawn = route(_row("in_transit", "SZX-HUB-01", "HGH-HUB-03"), NETWORK, ZH)
    assert [s.label for s in drawn.stops] == ["深圳", "深圳转运中心", "杭州转运中心",
                                              "上海转运中心", "上海"]
    assert [s.label for s in drawn.stops if s.current] == ["杭州转运中心"]


def test_at_the_delivery_station_it_is_on_the_last_leg_and_delivered_at_its_end():
    station = route(_row("out_for_delivery", "SZX-HUB-01", "SHA-HUB-02", "SHA-STA-13"),
                    NETWORK, EN)
    assert 2 < station.position < 3 and not station.stops[-1].done
    delivered = route(_row("delivered", "SZX-HUB-01", "SHA-HUB-02", "SHA-STA-13"), NETWORK, EN)
    assert delivered.position == 3 and all(s.done for s in delivered.stops)


def test_a_voided_scan_does_not_move_the_parcel_along():
    row = _row("at_facility", "SZX-HUB-01")
    row["timeline"].append({"facility": "SHA-HUB-02", "voided": True})
    assert route(row, NETWORK, EN).position == 1
