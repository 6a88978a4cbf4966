"""Quiet hours: the window wraps past midnight, its end is the next morning, empty disables it."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from scheduler.quiet import QuietHours

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")


def local(y, mo, d, h, mi=0):
    return datetime(y, mo, d, h, mi, tzinfo=ZONE)


def test_window_wraps_midnight():
    quiet = QuietHours.parse("21:00-07:00", ZONE)
    assert quiet.contains(local(2026, 10, 1, 21, 0))
    assert quiet.contains(local(2026, 10, 1, 23, 59))
    assert quiet.contains(local(2026, 10, 2, 6, 59))
    assert not quiet.contains(local(2026, 10, 2, 7, 0))
    assert not quiet.contains(local(2026, 10, 2, 20, 59))
    assert str(quiet) == "21:00-07:00"


def test_end_after_is_the_next_morning_in_city_time():
    quiet = QuietHours.parse("21:00-07:00", ZONE)
    assert quiet.end_after(local(2026, 10, 1, 22, 30)) == local(2026, 10, 2, 7, 0).astimezone(UTC)
    assert quiet.end_after(local(2026, 10, 2, 3, 0)) == local(2026, 10, 2, 7, 0).astimezone(UTC)
    noon = local(2026, 10, 2, 12, 0)
    assert quiet.end_after(noon) == noon
    assert quiet.next_start(noon) == local(2026, 10, 2, 21, 0).astimezone(UTC)


def test_same_day_window_and_disabled():
    lunch = QuietHours.parse("12:00-13:00", ZONE)
    assert lunch.contains(local(2026, 10, 2, 12, 30)) and not lunch.contains(local(2026, 10, 2, 13, 0))
    off = QuietHours.parse("", ZONE)
    assert not off.enabled and not off.contains(local(2026, 10, 2, 23, 0))
    assert off.next_start(local(2026, 10, 2, 23, 0)) is None
