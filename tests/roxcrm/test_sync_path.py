"""The sync path's batch helpers: its shortcut validation agrees with the models' full validation, and PostgreSQL's
statistics are refreshed when a read grows the tables."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import connection, models

from roxcrm.bulk import Builder, bulk_insert, refresh_statistics
from roxcrm.models import Account, Organization
from roxcrm.sync_path import model_value_error

SAMPLES = [None, "", "x", "Technology", "a" * 300, "nul\x00", 5, -1, Decimal("1.5"), "https://a.example.com", "no url"]


def test_the_shortcut_validation_refuses_exactly_what_full_validation_refuses() -> None:
    checked = 0
    for model in apps.get_models():
        if model._meta.app_label not in ("roxcrm", "activities", "integrations", "mappings"):
            continue
        for field in model._meta.concrete_fields:
            if isinstance(field, models.ForeignKey):
                continue  # the sync resolves lookups itself
            for value in [*SAMPLES, *(str(key) for key, _ in field.flatchoices or [])]:
                try:
                    field.clean(value, None)
                    refused = False
                except ValidationError:
                    refused = True
                except (TypeError, ValueError, ArithmeticError):
                    continue  # not a value the sync would ever hand this field
                checked += 1
                assert (model_value_error(field, value) is not None) == refused, (model.__name__, field.name, value)
    assert checked > 1000


def test_a_refused_value_says_which_field_and_why() -> None:
    industry = Account._meta.get_field("billing_city")
    assert model_value_error(industry, "c" * 41) == (
        "billing city: Ensure this value has at most 40 characters (it has 41)."
    )
    assert model_value_error(Account._meta.get_field("name"), "") == "name: This field cannot be blank."


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="statistics are PostgreSQL's")
def test_statistics_are_refreshed_when_the_rows_changed_reach_the_threshold(org: Organization) -> None:
    build = Builder(Account, organization=org).build
    bulk_insert(Account, [build({"organization_id": org.pk, "name": f"Account {i}"}) for i in range(60)])

    def rows_known() -> float:
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'roxcrm_account'")
            return cursor.fetchone()[0]

    # Before: the planner believes what the last analysis said (nothing, here).
    assert rows_known() < 60
    assert refresh_statistics(Account, at_least=0, grown_by=0) == ["roxcrm_account"]
    assert rows_known() == 60


def test_statistics_wait_for_their_threshold_and_other_databases_have_none(org: Organization) -> None:
    if connection.vendor == "postgresql":
        assert refresh_statistics(Account, at_least=10**9) == []  # too few rows changed: left to autovacuum
        assert refresh_statistics(Account, at_least=0, grown_by=0) == ["roxcrm_account"]
    else:
        assert refresh_statistics(Account, at_least=0, grown_by=0) == []


def test_any_of_finds_what_in_finds(org: Organization) -> None:
    build = Builder(Account, organization=org).build
    names = ["Acme", "Globex, Inc.", "Initech", "O'Brien & Sons", "Ünicode"]
    accounts = bulk_insert(Account, [build({"organization_id": org.pk, "name": name}) for name in names])
    for wanted in (["Acme", "Initech", "nobody"], ["O'Brien & Sons", "Ünicode", None], ["Globex, Inc.", "Acme"]):
        assert sorted(Account.objects.filter(name__any=wanted).values_list("name", flat=True)) == sorted(
            Account.objects.filter(name__in=wanted).values_list("name", flat=True)
        )
    ids = {accounts[0].pk, accounts[2].pk, 10**12}
    assert set(Account.objects.filter(pk__any=ids).values_list("name", flat=True)) == {"Acme", "Initech"}
    assert not Account.objects.filter(pk__any=[]).exists()
    if connection.vendor == "postgresql":
        assert "ANY(string_to_array(" in str(Account.objects.filter(name__any=["Acme"]).query)
        assert " IN (" in str(Account.objects.filter(name__any=["Globex, Inc."]).query)  # a value with the separator
