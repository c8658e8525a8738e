"""The inbound sync reads the next batch of a Bulk API result on a helper thread while the database stores the one
before: what the caller sees must be exactly what the source yields, errors included, and a caller that stops early
leaves nothing running and the source closed (its temporary files removed)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from integrations.engine.runner import _read_ahead


class Source:
    def __init__(self, count: int, fail_at: int | None = None) -> None:
        self.count = count
        self.fail_at = fail_at
        self.made: list[int] = []
        self.threads: set[str] = set()
        self.closed = False

    def items(self) -> Iterator[int]:
        try:
            for n in range(self.count):
                if n == self.fail_at:
                    raise RuntimeError(f"item {n} could not be read")
                self.threads.add(threading.current_thread().name)
                self.made.append(n)
                yield n
        finally:
            self.closed = True


def test_the_caller_gets_every_item_in_order_made_on_a_helper_thread() -> None:
    source = Source(50)
    assert list(_read_ahead(source.items())) == list(range(50))
    assert source.closed
    assert source.threads and all(name.startswith("rox-inbound-read") for name in source.threads)


def test_an_error_in_the_source_reaches_the_caller_after_the_items_before_it() -> None:
    source = Source(10, fail_at=4)
    seen = []
    with pytest.raises(RuntimeError, match="item 4 could not be read"):
        for item in _read_ahead(source.items()):
            seen.append(item)
    assert seen == [0, 1, 2, 3] and source.closed


def test_a_caller_that_stops_early_closes_the_source_and_reads_at_most_one_item_ahead() -> None:
    source = Source(1000)
    reader = _read_ahead(source.items())
    assert [next(reader), next(reader)] == [0, 1]
    reader.close()
    assert source.closed
    assert source.made in ([0, 1], [0, 1, 2])  # the item being read ahead when the caller stopped, at most
    assert not [t for t in threading.enumerate() if t.name.startswith("rox-inbound-read")]
