"""What the two writers of a drain (``drain.py``) share: the drain's result, and one policy for the rows a chunk
could not write: a transient refusal waits for a retry with backoff (until the attempts every outbox row gets are
used up, then it fails and is shown), a permanent one fails at once and is shown in Sync health with Salesforce's
message until a person retries or discards it. Each writer only builds its chunks and applies their results:
records (``writeback.RecordWriter``, update and create) and activities (``activity_writeback.ActivityWriter``,
upsert on ``RoxActivityId__c``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from integrations import outbox
from integrations.engine.inbound import Counts
from integrations.engine.plan import ObjectPlan
from integrations.engine.runner import Progress
from integrations.models import OutboxEntry, SalesforceConnection, SyncCursor, SyncRun
from integrations.salesforce.client import SalesforceClient
from mappings.models import ObjectMapping, StaticValue


@dataclass
class DrainResult:
    run: SyncRun | None
    written: int = 0
    created: int = 0
    linked: int = 0
    failed: int = 0
    review: int = 0
    retry: int = 0
    skipped_reason: str = ""
    written_ids: list[str] = field(default_factory=list)  # Salesforce Ids of the records updated or created
    read_ids: list[str] = field(default_factory=list)  # Salesforce Ids the read before the write changed in Rox

    def counts(self) -> dict[str, int]:
        return {
            "written": self.written,
            "created": self.created,
            "linked": self.linked,
            "failed": self.failed,
            "review": self.review,
            "retry": self.retry,
        }


class ChunkWriter:
    """A drain's target. ``read_first`` runs before the drain's own run opens (records read Salesforce's changes
    first, so a newer Salesforce value wins over the claimed Rox change); ``write`` sends the claimed rows and
    settles each one through ``outbox``; ``after`` runs once they are settled."""

    sync_required: ClassVar[bool] = True  # a paused object's rows wait (activities follow the Activities tab)

    def __init__(
        self,
        connection: SalesforceConnection,
        plan: ObjectPlan,
        client: SalesforceClient,
        run: SyncRun,
        result: DrainResult,
        progress: Progress | None = None,
    ) -> None:
        self.connection = connection
        self.plan = plan
        self.client = client
        self.run = run
        self.result = result
        self.progress = progress
        self.organization = plan.object_mapping.organization
        self.statics = list(StaticValue.objects.filter(object_mapping=plan.object_mapping))

    @classmethod
    def read_first(
        cls,
        connection: SalesforceConnection,
        object_mapping: ObjectMapping,
        plan: ObjectPlan,
        cursor: SyncCursor,
        record_ids: list[int] | None,
        result: DrainResult,
    ) -> tuple[ObjectPlan, SyncRun | None]:
        """The plan to write with and the run of the read made first, if any (its calls count in the drain's)."""
        return plan, None

    def write(self, entries: list[OutboxEntry]) -> None:
        raise NotImplementedError

    def after(self) -> None:
        """Work that follows the writes (records: their children's formula fields)."""

    def _retry(self, entry: OutboxEntry, code: str, message: str) -> None:
        """Salesforce could not take it now: back to pending with backoff (an edit made meanwhile opened a newer
        pending row, which then takes these fields too); past the attempts every row gets, failed and shown."""
        if outbox.retry_later(entry, run=self.run, code=code, message=message):
            self.result.retry += 1
        else:
            self.result.failed += 1

    def _error(self, entry: OutboxEntry, code: str, message: str, fields: list[str]) -> None:
        """A permanent error: no retry; shown in Sync health with Salesforce's message, until Retry or Discard."""
        self.result.failed += 1
        outbox.fail(entry, run=self.run, code=code, message=message, fields=fields)

    def _retry_all(self, entries: list[OutboxEntry], exc: Any) -> None:
        """A whole call failed transiently: each of its rows waits for a retry."""
        for entry in entries:
            self._retry(entry, getattr(exc, "code", "") or "TRANSIENT", str(exc))

    def _report(self) -> None:
        if self.progress:
            self.progress(Counts(fetched=self.result.written + self.result.created + self.result.failed), None)
