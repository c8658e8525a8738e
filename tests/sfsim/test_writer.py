"""sfsim's record writer in-process: what it remembers within a request never outlives a change it makes itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from sfsim.errors import SFError
from sfsim.org import Org


def test_a_reference_remembered_as_live_is_refused_once_the_same_writer_deletes_it(tmp_path: Path) -> None:
    org = Org(tmp_path)
    schema = org.store.schema
    account, contact = schema.get("Account"), schema.get("Contact")
    with org.store.transaction() as conn:
        writer = org.writer(conn, org.admin_id, None)
        parent = writer.insert(account, {"Name": "Parent"})
        first = writer.insert(contact, {"LastName": "One", "AccountId": parent})  # the parent is now known live
        writer.delete(account, parent)
        with pytest.raises(SFError) as refused:
            writer.insert(contact, {"LastName": "Two", "AccountId": parent})
        assert refused.value.code == "ENTITY_IS_DELETED"
        with pytest.raises(SFError) as unknown:
            writer.insert(contact, {"LastName": "Three", "AccountId": parent[:3] + "0" * 12})
        assert unknown.value.code in ("INVALID_CROSS_REFERENCE_KEY", "MALFORMED_ID")
    assert first


def test_an_activity_takes_its_parents_account_as_it_is_now_even_after_the_same_writer_moved_it(tmp_path: Path) -> None:
    org = Org(tmp_path)
    schema = org.store.schema
    account, opportunity, task = schema.get("Account"), schema.get("Opportunity"), schema.get("Task")
    with org.store.transaction() as conn:
        writer = org.writer(conn, org.admin_id, None)
        first, second = writer.insert(account, {"Name": "First"}), writer.insert(account, {"Name": "Second"})
        deal = writer.insert(
            opportunity, {"Name": "Deal", "AccountId": first, "StageName": "Prospecting", "CloseDate": "2026-12-31"}
        )
        before = writer.insert(task, {"Subject": "Before", "WhatId": deal, "Status": "Completed"})
        writer.update(opportunity, deal, {"AccountId": second})
        after = writer.insert(task, {"Subject": "After", "WhatId": deal, "Status": "Completed"})
        rows = dict(conn.execute('SELECT "Id", "AccountId" FROM "Task" WHERE "Id" IN (?, ?)', (before, after)))
    assert rows == {before: first, after: second}
