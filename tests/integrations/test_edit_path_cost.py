"""The edit path's cost does not creep back: one person's edit of a linked record whose fields are written back
(validated against the cached describe, its outbox row folded, its history written) stays a fixed, small number of
queries, however many outbox rows the object has (the integrity work once made it read every row of the object)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from integrations.models import OutboxEntry, SalesforceConnection
from roxcrm.models import Account, User
from roxcrm.services import Actor, record_update
from tests.integrations.test_writeback import connection, create

__all__ = ["connection"]  # the fixture shared with test_writeback

EDIT_QUERIES = 10  # savepoint, record + organization, writeback context, update, history, outbox row (4), release


def test_an_edit_costs_the_same_few_queries_with_a_backlog(
    connection: SalesforceConnection, sfsim: Any, admin_user: User, django_assert_max_num_queries: Any
) -> None:
    from integrations.engine.runner import sync_object

    for i in range(30):
        create(sfsim, "Account", Name=f"Backlog {i}")
    sync_object(connection, "Account")
    person = Actor.person(admin_user)
    accounts = list(Account.objects.order_by("pk"))
    for account in accounts[:-1]:  # a backlog of pending rows of the object
        record_update(record=account, values={"phone": "555 0100"}, actor=person)
    assert OutboxEntry.objects.filter(state="pending").count() == len(accounts) - 1
    target = accounts[-1]
    with transaction.atomic(), django_assert_max_num_queries(EDIT_QUERIES):
        record_update(record=target, values={"phone": "555 0199"}, actor=person)
    assert OutboxEntry.objects.filter(state="pending").count() == len(accounts)
