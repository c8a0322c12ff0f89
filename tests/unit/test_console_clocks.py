"""The queue's clocks as staff read them."""

from datetime import datetime, timedelta, timezone

from parcelflow.web.console.clocks import clock_words

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


def test_a_clock_running_says_how_long_is_left_and_turns_amber_in_the_last_half_hour():
    assert clock_words(NOW + timedelta(minutes=23, seconds=40), NOW).words == "due in 23 min"
    assert clock_words(NOW + timedelta(minutes=23), NOW).state == "soon"
    assert clock_words(NOW + timedelta(minutes=31), NOW).state == "ok"
    assert clock_words(NOW + timedelta(hours=5, minutes=59), NOW).words == "due in 5 h"
    assert clock_words(NOW + timedelta(days=6, hours=3), NOW).words == "due in 6 d"


def test_a_clock_run_out_says_how_long_ago_in_red():
    late = clock_words(NOW - timedelta(hours=2, minutes=10), NOW)
    assert (late.words, late.state) == ("breached 2 h ago", "breached")
    assert clock_words(NOW - timedelta(hours=1, minutes=50), NOW).words == "breached 1 h 50 min ago"
    assert clock_words(NOW - timedelta(hours=1), NOW).words == "breached 1 h ago"
    assert clock_words(NOW - timedelta(hours=3), NOW).words == "breached 3 h ago"
    assert clock_words(NOW, NOW).words == "breached 0 min ago"
    assert clock_words(None, NOW) is None
