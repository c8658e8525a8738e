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
