"""In-process state of a running org: API usage, call statistics, faults, query locators and the permission cache."""

import collections
import random
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass, field

from . import defaults, ids
from .clock import CLOCK


class ApiUsage:
    """Calls counted per minute of the org's clock, summed over a rolling 24 hours."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._minutes: collections.OrderedDict[int, int] = collections.OrderedDict()

    def _minute(self) -> int:
        return int(CLOCK.now().timestamp() // 60)

    def used(self) -> int:
        now = self._minute()
        with self._lock:
            while self._minutes and next(iter(self._minutes)) <= now - 1440:
                self._minutes.popitem(last=False)
            return sum(c for m, c in self._minutes.items() if m <= now)

    def try_count(self, limit: int) -> tuple[bool, int]:
        """Counts one call unless the limit is reached; returns (allowed, used after)."""
        used = self.used()
        if used >= limit:
            return False, used
        minute = self._minute()
        with self._lock:
            self._minutes[minute] = self._minutes.get(minute, 0) + 1
        return True, used + 1

    def set_used(self, used: int) -> None:
        with self._lock:
            self._minutes.clear()
            if used:
                self._minutes[self._minute()] = used

    def reset(self) -> None:
        self.set_used(0)


class Stats:
    """API calls by endpoint category, for tests and benchmarks that assert call counts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.calls: collections.Counter = collections.Counter()
            self.requests: collections.Counter = collections.Counter()
            self.records: collections.Counter = collections.Counter()
            self.faults: collections.Counter = collections.Counter()
            self.queries: collections.Counter = collections.Counter()
            self.since = time.time()

    def count(self, category: str, api_call: bool) -> None:
        with self._lock:
            self.requests[category] += 1
            if api_call:
                self.calls[category] += 1

    def add_records(self, category: str, n: int) -> None:
        with self._lock:
            self.records[category] += n

    def query(self, sobject: str) -> None:
        """A SOQL query (its first page) was run against ``sobject``."""
        with self._lock:
            self.queries[sobject] += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self.faults[kind] += 1

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "api_calls": sum(self.calls.values()),
                "api_calls_by_category": dict(self.calls),
                "requests_by_category": dict(self.requests),
                "records_by_category": dict(self.records),
                "faults_injected": dict(self.faults),
                "queries_by_object": dict(self.queries),
                "since": self.since,
            }


FAULT_KINDS = ("latency", "unavailable", "lock", "limit", "expire_sessions", "drop")
ANSWERING = frozenset({"unavailable", "lock", "limit", "drop"})


@dataclass
class FaultRule:
    kind: str
    probability: float = 1.0
    count: int | None = None  # inject exactly the next N matching requests, then retire
    endpoints: list[str] = field(default_factory=list)
    objects: list[str] = field(default_factory=list)
    latency_ms: int = 0
    id: str = field(default_factory=lambda: secrets.token_hex(4))

    def describe(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "probability": self.probability,
            "count": self.count,
            "endpoints": self.endpoints,
            "objects": self.objects,
            "latency_ms": self.latency_ms,
        }


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rules: list[FaultRule] = []
        self.rng = random.Random(0)

    def add(self, spec: dict) -> FaultRule:
        kind = spec.get("kind")
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        rule = FaultRule(
            kind=kind,
            probability=float(spec.get("probability", 1.0)),
            count=spec.get("count"),
            endpoints=list(spec.get("endpoints") or []),
            objects=[o.lower() for o in spec.get("objects") or []],
            latency_ms=int(spec.get("latency_ms", 0)),
        )
        if "seed" in spec:
            self.rng.seed(spec["seed"])
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def remove(self, rule_id: str) -> bool:
        with self._lock:
            before = len(self.rules)
            self.rules = [r for r in self.rules if r.id != rule_id]
            return len(self.rules) != before

    def pick(self, category: str, objects) -> list[FaultRule]:
        """The rules that fire for this request (each retires after its count); ``objects`` is a callable giving
        the lower-case objects the request touches, evaluated only when a rule is limited to objects."""
        fired = []
        touched = None
        answered = False  # one request gets at most one fault that answers in its place
        with self._lock:
            for rule in list(self.rules):
                if rule.endpoints and category not in rule.endpoints:
                    continue
                if answered and rule.kind in ANSWERING:
                    continue
                if rule.objects:
                    touched = objects() if touched is None else touched
                    if not touched & set(rule.objects):
                        continue
                if rule.probability < 1.0 and self.rng.random() >= rule.probability:
                    continue
                fired.append(rule)
                answered = answered or rule.kind in ANSWERING
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count <= 0:
                        self.rules.remove(rule)
        return fired

    def describe(self) -> list[dict]:
        with self._lock:
            return [r.describe() for r in self.rules]


class Locator:
    """An open query: its own SQLite connection in a read transaction (a snapshot) and a cursor on the rows."""

    def __init__(
        self,
        locator_id: str,
        conn: sqlite3.Connection,
        cursor: sqlite3.Cursor,
        compiled,
        total: int,
        position: int,
        user_id: str,
        query_all: bool,
    ):
        self.id = locator_id
        self.conn = conn
        self.cursor = cursor
        self.compiled = compiled
        self.total = total
        self.position = position
        self.user_id = user_id
        self.query_all = query_all
        self.lock = threading.Lock()
        self.last_used = time.monotonic()
        # The previous page, so that a client retrying after a lost response gets it again.
        self.last_page: tuple[int, list] | None = None

    def close(self) -> None:
        try:
            self.cursor.close()
            self.conn.rollback()
            self.conn.close()
        except sqlite3.Error:
            pass


class Locators:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: collections.OrderedDict[str, Locator] = collections.OrderedDict()
        self._counter = 0
        # Locators of an earlier run of the server must not be mistaken for new ones.
        self._base = random.randrange(62**8)

    def new_id(self) -> str:
        with self._lock:
            self._counter += 1
            n = self._counter
        return ids.make_id("01g", self._base + n)

    def add(self, loc: Locator) -> None:
        evicted = []
        with self._lock:
            self._open[loc.id] = loc
            while len(self._open) > defaults.LOCATOR_MAX_OPEN:
                evicted.append(self._open.popitem(last=False)[1])
        for old in evicted:
            with old.lock:
                old.close()

    def get(self, locator_id: str) -> Locator | None:
        with self._lock:
            loc = self._open.get(locator_id)
            if loc is not None:
                self._open.move_to_end(locator_id)
            return loc

    def drop(self, locator_id: str) -> None:
        with self._lock:
            loc = self._open.pop(locator_id, None)
        if loc is not None:
            loc.close()

    def expire(self, idle_seconds: float = defaults.LOCATOR_IDLE_SECONDS) -> int:
        cutoff = time.monotonic() - idle_seconds
        with self._lock:
            stale = [k for k, v in self._open.items() if v.last_used < cutoff]
            victims = [self._open.pop(k) for k in stale]
        for loc in victims:
            with loc.lock:
                loc.close()
        return len(victims)

    def close_all(self) -> None:
        self.expire(-1)

    def count(self) -> int:
        with self._lock:
            return len(self._open)
