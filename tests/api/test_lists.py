"""Lists: a stable order, cursor pagination, ``updated_since`` and the filters."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from activities.models import Activity
from roxcrm.models import Account, Organization, User
from roxcrm.services import Actor, record_update
from tests.api.conftest import ApiClient
from tests.factories import make_account, make_activity, make_contact, make_lead


def walk(api: ApiClient, resource: str, **query: object) -> list[list[str]]:
    """The names (or subjects) on each page, following ``next_cursor`` to the end."""
    pages, cursor = [], None
    while True:
        response = api.get(resource, **query, **({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.json()
        body = response.json()
        pages.append([r.get("name") or r.get("subject") for r in body["data"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


def test_cursor_pagination_walks_every_record_once(api: ApiClient, org: Organization) -> None:
    names = [f"Account {n:02}" for n in range(11)]
    for name in names:
        make_account(org, name=name)
    # Several records changed at the same instant: the id breaks the tie.
    same = timezone.now() - dt.timedelta(hours=1)
    Account.objects.filter(name__in=names[3:8]).update(updated_at=same)

    pages = walk(api, "accounts", limit=3)
    assert [len(page) for page in pages] == [3, 3, 3, 2]
    seen = [name for page in pages for name in page]
    assert sorted(seen) == names and len(set(seen)) == len(seen)
    assert seen[:5] == names[3:8]


def test_a_record_changed_during_a_walk_is_seen_again_and_nothing_is_missed(api: ApiClient, org: Organization) -> None:
    accounts = [make_account(org, name=f"Account {n}") for n in range(6)]
    first = api.get("accounts", limit=3).json()
    record_update(record=accounts[0], values={"industry": "Banking"}, actor=Actor.system("someone"))
    rest = api.get("accounts", limit=3, cursor=first["next_cursor"]).json()
    assert [r["name"] for r in first["data"] + rest["data"]] == [f"Account {n}" for n in range(6)]
    last = api.get("accounts", limit=3, cursor=rest["next_cursor"]).json()
    assert [r["name"] for r in last["data"]] == ["Account 0"] and last["next_cursor"] is None


def test_updated_since_lists_records_changed_from_then_on(api: ApiClient, org: Organization) -> None:
    old = make_account(org, name="Old")
    Account.objects.filter(pk=old.pk).update(updated_at=timezone.now() - dt.timedelta(days=2))
    make_account(org, name="New")
    since = (timezone.now() - dt.timedelta(days=1)).isoformat()
    assert [a["name"] for a in api.get("accounts", updated_since=since).json()["data"]] == ["New"]
    record_update(record=old, values={"industry": "Banking"}, actor=Actor.system("someone"))
    assert [a["name"] for a in api.get("accounts", updated_since=since).json()["data"]] == ["New", "Old"]
    naive = (timezone.now() - dt.timedelta(days=1)).replace(tzinfo=None).isoformat()
    assert len(api.get("accounts", updated_since=naive).json()["data"]) == 2


def test_limit_has_a_maximum_and_bad_cursors_are_refused(api: ApiClient, org: Organization) -> None:
    make_account(org)
    assert api.get("accounts", limit=201).status_code == 400
    assert api.get("accounts", limit=200).status_code == 200
    response = api.get("accounts", cursor="not-a-cursor")
    assert response.status_code == 400 and "cursor" in response.json()["fields"]

    make_contact(org)
    make_contact(org)
    contacts_cursor = api.get("contacts", limit=1).json()["next_cursor"]
    assert api.get("accounts", cursor=contacts_cursor).status_code == 400
    response = api.get("accounts", updated_sinse="2026-01-01")
    assert response.status_code == 400 and response.json()["fields"] == {
        "updated_sinse": ["There is no such parameter."]
    }


def test_search_and_filters(api: ApiClient, org: Organization, member_user: User) -> None:
    initech = make_account(org, name="Initech", owner=member_user)
    make_account(org, name="Globochem")
    make_contact(org, last_name="Gibbons", account=initech)
    make_contact(org, last_name="Bolton")
    lead = make_lead(org, last_name="Curie")
    make_activity(org, subject="Kick-off", type="meeting", account=initech)
    make_activity(org, subject="Follow-up e-mail", type="email", lead=lead)

    def names(resource: str, **query: object) -> list[str]:
        response = api.get(resource, **query)
        assert response.status_code == 200, response.json()
        return sorted(r.get("name") or r.get("last_name") or r.get("subject") for r in response.json()["data"])

    assert names("accounts", q="init") == ["Initech"]
    assert names("accounts", owner="MEL@acme.example") == ["Initech"]
    assert names("contacts", account=str(initech.code)) == ["Gibbons"]
    assert names("activities", type="meeting") == ["Kick-off"]
    assert names("activities", lead=str(lead.code)) == ["Follow-up e-mail"]
    assert names("activities", account=str(initech.code)) == ["Kick-off"]
    assert names("activities", q="follow") == ["Follow-up e-mail"]
    assert Activity.objects.count() == 2
