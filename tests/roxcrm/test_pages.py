"""Record pages: lists with search, pagination and empty states; create and detail."""

from __future__ import annotations

from decimal import Decimal

from django.test import Client
from django.urls import reverse

from activities.models import Activity
from roxcrm.models import Contact, Organization, User
from roxcrm.services import Actor, record_update
from tests.factories import make_account, make_activity, make_contact, make_opportunity


def test_empty_list_says_what_to_do_next(org: Organization, admin_client: Client) -> None:
    for key, hint in [
        ("account", "Accounts are the companies you sell to."),
        ("contact", "Contacts are the people at your accounts."),
        ("opportunity", "Opportunities are the deals you are working."),
        ("lead", "Leads are people you have not qualified yet."),
        ("activity", "Activities are the e-mails, calls, LinkedIn touches and meetings"),
    ]:
        page = admin_client.get(reverse(f"{key}_list", args=[org.slug])).content.decode()
        assert hint in page and "Create the first one" in page, key


def test_search_and_pagination(org: Organization, admin_client: Client) -> None:
    for n in range(30):
        make_account(org, name=f"Company {n:02d}", industry="Banking" if n % 3 == 0 else "Retail")
    url = reverse("account_list", args=[org.slug])
    response = admin_client.get(url)
    assert response.context["page"].paginator.num_pages == 2
    assert "Page 1 of 2" in response.content.decode()
    assert len(admin_client.get(url, {"page": 2}).context["page"].object_list) == 5
    response = admin_client.get(url, {"q": "banking company"})
    assert response.context["page"].paginator.count == 10
    response = admin_client.get(url, {"q": "nothing-like-this"})
    assert "No accounts match “nothing-like-this”" in response.content.decode()


def test_create_a_contact_from_an_account_page(org: Organization, admin_client: Client) -> None:
    account = make_account(org)
    detail = admin_client.get(reverse("account_detail", args=[org.slug, account.code])).content.decode()
    add_url = reverse("contact_create", args=[org.slug]) + f"?account={account.code}"
    assert add_url in detail
    form = admin_client.get(add_url).context["form"]
    assert form.initial["account"] == account
    response = admin_client.post(
        reverse("contact_create", args=[org.slug]),
        {"first_name": "Peter", "last_name": "Gibbons", "email": "peter@initech.example", "account": account.pk},
    )
    contact = Contact.objects.get()
    assert response["Location"] == contact.get_absolute_url()
    assert (
        "Peter Gibbons" in admin_client.get(reverse("account_detail", args=[org.slug, account.code])).content.decode()
    )


def test_invalid_form_shows_clear_errors_and_saves_nothing(org: Organization, admin_client: Client) -> None:
    response = admin_client.post(reverse("contact_create", args=[org.slug]), {"email": "not-an-email"})
    page = response.content.decode()
    assert "This field is required." in page
    assert "Enter a valid email address." in page
    assert not Contact.objects.exists()


def test_log_an_activity_with_participants(org: Organization, admin_client: Client, admin_user: object) -> None:
    contact = make_contact(org, email="peter@initech.example")
    response = admin_client.post(
        reverse("activity_create", args=[org.slug]),
        {
            "type": "email",
            "subject": "Pricing",
            "occurred_at": "2026-11-20T10:00",
            "participant_emails": "Peter@Initech.example, peter@initech.example\nbob@initech.example",
            "contact": contact.pk,
        },
    )
    assert response.status_code == 302, response.content.decode()
    activity = Activity.objects.get()
    assert activity.participant_emails == ["peter@initech.example", "bob@initech.example"]
    response = admin_client.post(
        reverse("activity_edit", args=[org.slug, activity.code]),
        {"type": "email", "occurred_at": "2026-11-20T10:00", "participant_emails": "bad address", "version": 1},
    )
    assert "“bad address” is not a valid e-mail address." in response.content.decode()


def test_record_page_offers_only_the_organizations_records_to_link(
    org: Organization, other_org: Organization, admin_client: Client
) -> None:
    make_account(org, name="Ours")
    make_account(other_org, name="Theirs")
    form = admin_client.get(reverse("contact_create", args=[org.slug])).context["form"]
    assert [a.name for a in form.fields["account"].queryset] == ["Ours"]


def test_record_page_shows_its_change_history_in_plain_words(
    org: Organization, admin_client: Client, admin_user: User
) -> None:
    account = make_account(org, name="Initech")
    opportunity = make_opportunity(org, amount=Decimal("1000"))
    record_update(
        record=opportunity, values={"amount": Decimal("2500"), "account": account}, actor=Actor.person(admin_user)
    )
    page = admin_client.get(opportunity.get_absolute_url()).content.decode()
    assert "<strong>Amount</strong>: 1,000.00 → 2,500.00" in page  # as the page shows the amount
    assert "<strong>Account</strong>: — → Initech" in page
    assert "ada@acme.example" in page


def test_change_history_shows_choices_by_label_and_lists_as_text(
    org: Organization, admin_client: Client, admin_user: User
) -> None:
    activity = make_activity(org, participant_emails=["amy@initech.example"])
    record_update(
        record=activity,
        values={"type": "email", "participant_emails": ["amy@initech.example", "bob@initech.example"]},
        actor=Actor.person(admin_user),
    )
    page = admin_client.get(activity.get_absolute_url()).content.decode()
    assert "<strong>Type</strong>: Phone call → E-mail" in page
    assert (
        "<strong>Participant e-mail addresses</strong>: amy@initech.example → amy@initech.example, bob@initech.example"
        in page
    )
