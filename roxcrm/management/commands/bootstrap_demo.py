"""Create (once) the demo organization, its admin and some sample records, for `make run`."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from roxcrm.models import Account, Contact, Lead, Membership, Opportunity, Organization, Product, User
from roxcrm.services import Actor, organization_create, record_create

DEMO_SLUG = "demo"

ACCOUNTS = [
    ("Northwind Traders", "https://northwind.example.com", "Retail", "Seattle", "US", 1_200),
    ("Globex Corporation", "https://www.globex.example", "Manufacturing", "Springfield", "US", 5_400),
    ("Initech", "initech.example.org", "Technology", "Austin", "US", 320),
    ("Umbrella Health", "https://umbrella-health.example", "Healthcare", "London", "GB", 9_800),
    ("Stark Logistics", "https://stark-logistics.example", "Transportation", "Hamburg", "DE", 2_100),
]
CONTACTS = [
    ("Ada", "Lovelace", "ada@northwind.example.com", "VP Operations", 0),
    ("Grace", "Hopper", "grace@globex.example", "CTO", 1),
    ("Peter", "Gibbons", "peter@initech.example.org", "Engineer", 2),
    ("Alice", "Abernathy", "alice@umbrella-health.example", "Head of Procurement", 3),
    ("Tony", "Ng", "tony@stark-logistics.example", "CFO", 4),
]


class Command(BaseCommand):
    help = "Create the demo organization with an admin user and sample records (does nothing if it exists)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--email", default=settings.DEMO_ADMIN_EMAIL)
        parser.add_argument("--password", default=None, help="Defaults to DEMO_ADMIN_PASSWORD from .env.")
        parser.add_argument("--url", default=settings.SITE_URL, help="Printed as the address to open.")

    def handle(self, *args: Any, email: str, password: str | None, url: str, **options: Any) -> None:
        password = password or settings.DEMO_ADMIN_PASSWORD
        if not password:
            raise CommandError("Give --password or set DEMO_ADMIN_PASSWORD (make run writes one into .env).")
        organization = Organization.objects.filter(slug=DEMO_SLUG).first()
        if organization is None:
            with transaction.atomic():
                user = User.objects.filter(email=email).first() or User.objects.create_user(
                    email=email, password=password, full_name="Demo Admin", is_staff=True, is_superuser=True
                )
                organization = organization_create(name="Acme Demo", slug=DEMO_SLUG, user=user)
                _sample_records(organization, user)
            created = "Created"
        else:
            created = "Using"
        self.stdout.write(
            self.style.SUCCESS(f"{created} the demo organization “{organization.name}”.")
            + f"\n  Open      {url}/\n  E-mail    {email}\n  Password  {password}"
            + ("" if created == "Created" else "  (unless you changed it)")
        )
        if not Membership.objects.filter(organization=organization, user__email=email).exists():
            self.stderr.write(f"Note: {email} is not a member of the demo organization any more.")


def _sample_records(organization: Organization, user: User) -> None:
    actor = Actor.system("demo data")
    accounts = []
    for name, website, industry, city, country, employees in ACCOUNTS:
        accounts.append(
            record_create(
                organization=organization,
                model=Account,
                values={
                    "name": name,
                    "website": website if "://" in website else f"https://{website}",
                    "industry": industry,
                    "billing_city": city,
                    "billing_country": country,
                    "employee_count": employees,
                    "annual_revenue": Decimal(employees * 150_000),
                    "owner": user,
                },
                actor=actor,
            )
        )
    for first, last, email, title, index in CONTACTS:
        record_create(
            organization=organization,
            model=Contact,
            values={
                "first_name": first,
                "last_name": last,
                "email": email,
                "title": title,
                "account": accounts[index],
            },
            actor=actor,
        )
    today = timezone.localdate()
    stages = ["Prospecting", "Qualification", "Proposal/Price Quote", "Negotiation/Review", "Closed Won"]
    for index, account in enumerate(accounts):
        record_create(
            organization=organization,
            model=Opportunity,
            values={
                "name": f"{account.name} — platform renewal",
                "account": account,
                "amount": Decimal(25_000 + index * 17_500),
                "stage": stages[index],
                "close_date": today + dt.timedelta(days=15 * (index + 1)),
                "probability": 10 + index * 20,
                "owner": user,
            },
            actor=actor,
        )
    for first, last, company, email in [
        ("Marie", "Curie", "Radium Labs", "marie@radium.example"),
        ("Nikola", "Tesla", "Wardenclyffe Energy", "nikola@wardenclyffe.example"),
    ]:
        record_create(
            organization=organization,
            model=Lead,
            values={
                "first_name": first,
                "last_name": last,
                "company": company,
                "email": email,
                "owner": user,
            },
            actor=actor,
        )
    for name, code, family in [
        ("Rox Platform", "ROX-PLAT", "Software"),
        ("Onboarding", "ROX-ONB", "Services"),
    ]:
        record_create(
            organization=organization,
            model=Product,
            values={"name": name, "product_code": code, "family": family},
            actor=actor,
        )
