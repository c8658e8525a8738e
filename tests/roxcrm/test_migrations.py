"""Migrations that change data run on the data a real deployment may hold."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


@pytest.mark.django_db(transaction=True)
def test_slugs_that_differ_only_in_case_are_renamed_before_the_constraint() -> None:
    before, after = (
        [("roxcrm", "0003_account_removed_at_account_removed_reason_and_more")],
        [("roxcrm", "0004_organization_slug_unique_ignoring_case")],
    )
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps.get_model("roxcrm", "Organization")
    for name, slug in [
        ("Acme", "acme"),
        ("ACME", "Acme"),
        ("Acme again", "acme-2"),
        ("Long", "x" * 60),
        ("X", "X" * 60),
    ]:
        old.objects.create(name=name, slug=slug)
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    new = executor.loader.project_state(after).apps.get_model("roxcrm", "Organization")
    assert list(new.objects.order_by("pk").values_list("slug", flat=True)) == [
        "acme",
        "Acme-3",
        "acme-2",
        "x" * 60,
        "X" * 58 + "-2",
    ]
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
