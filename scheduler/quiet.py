"""Quiet hours (CHONNGHE_QUIET_HOURS, default 21:00-07:00): no broadcast is delivered inside them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class QuietHours:
    """A daily window in the city's time zone; `start > end` wraps past midnight. None = disabled."""

    start: time | None
    end: time | None
    zone: ZoneInfo

    @classmethod
    def parse(cls, spec: str, zone: ZoneInfo) -> QuietHours:
        """"21:00-07:00" or "" (disabled). The format is already checked by Settings."""
        spec = (spec or "").strip()
        if not spec:
            return cls(None, None, zone)
        a, b = spec.split("-")
        return cls(time.fromisoformat(a), time.fromisoformat(b), zone)

    @property
    def enabled(self) -> bool:
        """Whether there are quiet hours at all (start and end set and different)."""
        return self.start is not None and self.end is not None and self.start != self.end

    def __str__(self) -> str:
        if not self.enabled:
            return "tắt"
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    def contains(self, when: datetime) -> bool:
        """True when `when` (aware) falls inside the quiet window, local time."""
        if not self.enabled:
            return False
        t = when.astimezone(self.zone).time().replace(tzinfo=None)
        assert self.start is not None and self.end is not None
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def end_after(self, when: datetime) -> datetime:
        """The end of the quiet window that contains `when` (UTC); `when` itself if it is not quiet."""
        if not self.contains(when):
            return when
        assert self.end is not None
        local = when.astimezone(self.zone)
        candidate = datetime.combine(local.date(), self.end, tzinfo=self.zone)
        if candidate <= local:
            candidate = datetime.combine(local.date() + timedelta(days=1), self.end, tzinfo=self.zone)
        return candidate.astimezone(UTC)

    def next_start(self, when: datetime) -> datetime | None:
        """When the next quiet window begins at or after `when` (UTC), or None when disabled."""
        if not self.enabled:
            return None
        assert self.start is not None
        local = when.astimezone(self.zone)
        candidate = datetime.combine(local.date(), self.start, tzinfo=self.zone)
        if candidate < local:
            candidate = datetime.combine(local.date() + timedelta(days=1), self.start, tzinfo=self.zone)
        return candidate.astimezone(UTC)
