"""The org's clock: real time, shifted or frozen through the control API so tests can play with timestamps.

Datetimes are kept and returned as Salesforce prints them, to the second: ``2026-11-27T10:15:02.000+0000``. That
text sorts in time order, so SQLite compares and indexes it as is.
"""

import datetime as dt
import threading

UTC = dt.UTC


class Clock:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = dt.timedelta()
        self._frozen: dt.datetime | None = None

    def now(self) -> dt.datetime:
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            return (dt.datetime.now(UTC) + self._offset).replace(microsecond=0)

    def freeze(self, at: dt.datetime | None = None) -> None:
        with self._lock:
            frozen = at or (dt.datetime.now(UTC) + self._offset)
            self._frozen = frozen.astimezone(UTC).replace(microsecond=0)

    def unfreeze(self) -> None:
        with self._lock:
            if self._frozen is not None:
                self._offset = self._frozen - dt.datetime.now(UTC)
            self._frozen = None

    def set_offset(self, seconds: float) -> None:
        with self._lock:
            self._offset = dt.timedelta(seconds=seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            if self._frozen is not None:
                self._frozen += dt.timedelta(seconds=seconds)
            else:
                self._offset += dt.timedelta(seconds=seconds)

    def reset(self) -> None:
        with self._lock:
            self._offset = dt.timedelta()
            self._frozen = None

    def state(self) -> dict:
        with self._lock:
            frozen = self._frozen
            offset = self._offset.total_seconds()
        return {"now": format_datetime(self.now()), "frozen": frozen is not None, "offset_seconds": offset}


def format_datetime(value: dt.datetime) -> str:
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def format_date(value: dt.date) -> str:
    return value.isoformat()


def parse_datetime(text: str) -> dt.datetime:
    """Parses the ISO forms clients send (``Z``, ``+00:00``, ``+0000``, with or without fractions)."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    if len(value) >= 5 and value[-5] in "+-" and value[-3] != ":" and "T" in value:
        value = value[:-2] + ":" + value[-2:]
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def normalize_datetime(text: str) -> str:
    return format_datetime(parse_datetime(text).replace(microsecond=0))


CLOCK = Clock()
