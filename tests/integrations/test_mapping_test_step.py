"""The wizard's Test the mapping step (issue 17): records by name, not bare Ids; each field's value in Rox now beside
the one it would become; and the results stay on the page until the next test. Against sfsim over HTTPS."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse

from integrations.engine.runner import sync_object
from integrations.models import SalesforceConnection, SyncRun
from roxcrm.models import Account, Organization
from tests.integrations.test_writeback import connection, create

__all__ = ["connection"]  # the fixture shared with test_writeback


def test_the_test_step_names_records_shows_now_and_after_and_keeps_its_results(
    connection: SalesforceConnection, sfsim: Any, org: Organization, admin_client: Client
) -> None:
    sf_id = create(sfsim, "Account", Name="Initech", Phone="111")
    sync_object(connection, "Account")
    sfsim.control("PATCH", f"records/Account/{sf_id}", {"fields": {"Phone": "222"}})
    create(sfsim, "Account", Name="Hooli")
    url = reverse("salesforce_setup_test", args=[org.slug])
    response = admin_client.post(url)
    assert response.status_code == 302 and response["Location"] == url
    page = admin_client.get(url).content.decode()
    assert "<strong>Initech</strong>" in page and "<strong>Hooli</strong>" in page
    initech = page.split("<strong>Initech</strong>", 1)[1].split("</details>", 1)[0]
    assert "would change" in initech
    assert (
        '<td class="mono">Phone</td><td class="wrap">222</td><td class="wrap">111</td><td class="wrap">222</td>'
        in initech
    )
    hooli = page.split("<strong>Hooli</strong>", 1)[1].split("</details>", 1)[0]
    assert "new in Rox" in hooli and "not in Rox yet" in hooli
    assert Account.objects.get(name="Initech").phone == "111"  # nothing written
    assert SyncRun.objects.filter(kind="dry_run").count() == 1
    # Left and come back: the results are still there.
    again = admin_client.get(url).content.decode()
    assert 'data-testid="tested-at"' in again and "<strong>Initech</strong>" in again
