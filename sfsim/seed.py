"""Deterministic, realistic org data: users, products and price book entries, accounts with contacts,
opportunities with line items, leads, tasks and events — with sensible dates, owners and picklist values.

``demo`` is a few hundred accounts; ``N`` makes about N records in total. Rows go in with ``executemany`` in large
transactions (a million records in well under two minutes), with the derived fields Salesforce would compute."""

import copy
import datetime as dt
import random
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from . import defaults
from .objects import create_object, drop_objects
from .records import STAGES, format_auto_number
from .schema import NUMBER_TYPES, TEXT_TYPES
from .setup import create_user
from .store import Store, quote

FIRST = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Carlos",
    "Karen",
    "Wei",
    "Aisha",
    "Lars",
    "Sofia",
    "Mateo",
    "Yuki",
    "Priya",
    "Omar",
    "Chloe",
    "Noah",
    "Emma",
    "Liam",
]
LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
]
WORDS = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Hooli",
    "Vandelay",
    "Soylent",
    "Tyrell",
    "Cyberdyne",
    "Aperture",
    "Wonka",
    "Gringotts",
    "Oscorp",
    "Massive",
    "Dynamic",
    "Blue",
    "Northwind",
    "Contoso",
    "Fabrikam",
    "Litware",
    "Proseware",
    "Adventure",
    "Tailspin",
    "Fourth",
    "Coffee",
    "Summit",
    "Pinnacle",
    "Vertex",
    "Quantum",
    "Nimbus",
    "Apex",
    "Lumen",
    "Orbit",
    "Harbor",
    "Cedar",
    "Granite",
]
SUFFIX = ["Inc", "LLC", "Corp", "Group", "Labs", "Systems", "Partners", "Holdings", "GmbH", "Ltd"]
INDUSTRIES = [
    "Agriculture",
    "Apparel",
    "Banking",
    "Biotechnology",
    "Chemicals",
    "Communications",
    "Construction",
    "Consulting",
    "Education",
    "Electronics",
    "Energy",
    "Engineering",
    "Entertainment",
    "Finance",
    "Healthcare",
    "Hospitality",
    "Insurance",
    "Manufacturing",
    "Media",
    "Retail",
    "Technology",
    "Telecommunications",
    "Transportation",
    "Utilities",
]
CITIES = [
    ("San Francisco", "CA", "USA"),
    ("New York", "NY", "USA"),
    ("Austin", "TX", "USA"),
    ("Chicago", "IL", "USA"),
    ("Seattle", "WA", "USA"),
    ("Boston", "MA", "USA"),
    ("London", None, "United Kingdom"),
    ("Berlin", None, "Germany"),
    ("Paris", None, "France"),
    ("Toronto", "ON", "Canada"),
    ("Sydney", "NSW", "Australia"),
    ("Tokyo", None, "Japan"),
]
TITLES = [
    "CEO",
    "CTO",
    "VP Sales",
    "Head of Operations",
    "Procurement Manager",
    "IT Director",
    "Engineer",
    "Account Manager",
    "CFO",
    "Marketing Lead",
]
PRODUCTS = [
    ("Platform License", "PLAT", "Software", 12000.0),
    ("Seat Pack (10)", "SEAT10", "Software", 2500.0),
    ("Premium Support", "SUP-P", "Services", 5000.0),
    ("Onboarding", "ONB", "Services", 3000.0),
    ("Data Connector", "CONN", "Add-on", 1500.0),
    ("Analytics Module", "ANLT", "Add-on", 4000.0),
    ("Training Day", "TRN", "Services", 1200.0),
    ("API Access", "API", "Add-on", 800.0),
]
LEAD_STATUS = ["Open - Not Contacted", "Working - Contacted", "Closed - Not Converted"]
SOURCES = ["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"]
STAGE_NAMES = list(STAGES)
TASK_SUBJECTS = [("Call", "Call"), ("Email", "Email"), ("Send Quote", "Task"), ("Follow up", "Task")]
CASE_SUBJECTS = [
    "Cannot sign in",
    "Invoice shows the wrong amount",
    "Data Connector sync fails",
    "Request for a training day",
    "Seat Pack not applied",
    "API returns an error",
    "Report is slow to load",
    "Question about the renewal",
]
CASE_STATUS = ["New", "Working", "Escalated", "Closed"]
SEED_TABLES = (
    "Account",
    "Case",
    "Contact",
    "Opportunity",
    "OpportunityLineItem",
    "Product2",
    "Pricebook2",
    "PricebookEntry",
    "Lead",
    "Task",
    "Event",
    "Project__c",
)


def _fmt(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime(ts))


# The demo's second custom object, created as the control API creates objects: milestones of a project, a
# master-detail child (deleted with their project; no owner of their own).
MILESTONE = {
    "name": "Milestone__c",
    "label": "Milestone",
    "pluralLabel": "Milestones",
    "nameField": {"label": "Milestone Name", "type": "Text"},
    "fields": [
        {
            "name": "Project__c",
            "label": "Project",
            "type": "MasterDetail",
            "referenceTo": ["Project__c"],
            "childRelationshipName": "Milestones",
        },
        {"name": "Due_Date__c", "label": "Due Date", "type": "date"},
        {
            "name": "Status__c",
            "label": "Status",
            "type": "picklist",
            "picklistValues": ["Not Started", "In Progress", "Done", "Blocked"],
        },
        {"name": "Percent_Complete__c", "label": "Percent Complete", "type": "percent"},
        {"name": "Is_Billable__c", "label": "Billable", "type": "checkbox"},
        {"name": "Notes__c", "label": "Notes", "type": "textarea"},
    ],
}
MILESTONE_NAMES = ["Kickoff", "Discovery", "Design Review", "Build", "Pilot", "Go-Live", "Handover", "Retrospective"]


def wipe(store: Store, admin_id: str) -> None:
    """Deletes every record and user but the admin, and the custom objects created through the control API (the
    demo seed brings Milestone__c back)."""
    with store.setup_transaction() as conn:  # users go: their cached permissions with them
        drop_objects(store, conn, [spec["name"] for spec in store.custom_object_specs(conn)])
        for table in SEED_TABLES:
            conn.execute(f"DELETE FROM {quote(table)}")
        conn.execute('DELETE FROM "User" WHERE "Id" != ?', (admin_id,))
        conn.execute("DELETE FROM _sfsim_passwords WHERE user_id != ?", (admin_id,))
        conn.execute("DELETE FROM _sfsim_deleted")


def counts(store: Store) -> dict:
    custom = [spec["name"] for spec in store.custom_object_specs()]
    return {t: store.table_rows(t) for t in (*SEED_TABLES, *custom, "User")}


class Seeder:
    def __init__(self, store: Store, conn: sqlite3.Connection, now: str, rng: random.Random):
        self.store = store
        self.conn = conn
        self.rng = rng
        self.now_ts = dt.datetime.strptime(now, "%Y-%m-%dT%H:%M:%S.000+0000").replace(tzinfo=dt.UTC).timestamp()
        self.today = dt.datetime.fromtimestamp(self.now_ts, dt.UTC).date()
        self.users: list[str] = []
        self.admin_id = store.setting("admin_user_id")

    def stamps(self, max_age_days: int = 730) -> tuple[str, str, str, str]:
        """(created, modified, creator, modifier): modified between created and now."""
        r = self.rng
        created = self.now_ts - r.random() * max_age_days * 86400
        modified = created + r.random() * (self.now_ts - created)
        return _fmt(created), _fmt(modified), r.choice(self.users), r.choice(self.users)

    def insert(self, table: str, columns: list[str], rows: Iterable[tuple], chunk: int = 20000) -> None:
        sql = f"INSERT INTO {quote(table)} ({', '.join(map(quote, columns))}) VALUES ({', '.join('?' * len(columns))})"
        batch = []
        for row in rows:
            batch.append(row)
            if len(batch) >= chunk:
                self.conn.executemany(sql, batch)
                batch.clear()
        if batch:
            self.conn.executemany(sql, batch)

    def ids(self, prefix: str, n: int) -> list[str]:
        return self.store.new_ids(self.conn, prefix, n)


SYS = ["Id", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp", "CreatedById", "LastModifiedById"]


def _sys(rid: str, stamps: tuple) -> tuple:
    created, modified, creator, modifier = stamps
    return (rid, 0, created, modified, modified, creator, modifier)


def plan(spec: str) -> dict[str, int]:
    if spec == "demo":
        return {
            "users": 8,
            "accounts": 300,
            "contacts_per_account": 2.5,
            "opps_per_account": 1.0,
            "lines_per_opp": 1.5,
            "leads": 200,
            "tasks": 600,
            "events": 300,
            "projects": 40,
            "milestones_per_project": 5,
            "cases": 40,
        }
    n = int(spec)
    if n <= 0:
        raise ValueError("N must be positive")
    accounts = max(n // 10, 1)
    return {
        "users": min(max(n // 20000, 5), 50),
        "accounts": accounts,
        "contacts_per_account": 2.5,
        "opps_per_account": 1.0,
        "lines_per_opp": 1.5,
        "leads": n // 10,
        "tasks": n // 5,
        "events": n // 10,
        "projects": n // 100,
        "milestones_per_project": 0,
        "cases": 0,
    }


def seed(store: Store, spec: str, now: str) -> dict:
    p = plan(spec)
    rng = random.Random(f"sfsim-{spec}")
    with store.setup_transaction() as conn:  # it adds users, which a running server must see
        conn.execute("PRAGMA cache_size=-200000")
        s = Seeder(store, conn, now, rng)
        for i in range(p["users"]):
            first, last = FIRST[i % len(FIRST)], LAST[(i * 7) % len(LAST)]
            s.users.append(
                create_user(
                    store,
                    conn,
                    now,
                    f"{first.lower()}.{last.lower()}{i}@sfsim.example.com",
                    first,
                    last,
                    title="Account Executive",
                )
            )
        s.users.append(s.admin_id)
        products = _products(s)
        accounts = _accounts(s, p["accounts"])
        contacts_of = _contacts(s, accounts, p["contacts_per_account"])
        opps = _opportunities(s, accounts, p["opps_per_account"], p["lines_per_opp"], products)
        _leads(s, p["leads"])
        _activities(s, "Task", "00T", p["tasks"], accounts, contacts_of, opps)
        _activities(s, "Event", "00U", p["events"], accounts, contacts_of, opps)
        projects = _projects(s, accounts, p["projects"])
        if p["milestones_per_project"]:
            _milestones(s, projects, p["milestones_per_project"], now)
        if p["cases"]:
            _cases(s, accounts, contacts_of, p["cases"], random.Random(f"sfsim-{spec}-cases"))
    return counts(store)


def _products(s: Seeder) -> list[tuple[str, str, float, str]]:
    pb = s.ids("01s", 1)[0]
    st = s.stamps()
    s.insert(
        "Pricebook2",
        [*SYS, "Name", "IsActive", "IsStandard", "Description"],
        [(*_sys(pb, st), "Standard Price Book", 1, 1, "The standard price book")],
    )
    ids = s.ids("01t", len(PRODUCTS))
    entries = s.ids("01u", len(PRODUCTS))
    s.insert(
        "Product2",
        [*SYS, "Name", "ProductCode", "Family", "IsActive", "IsArchived", "Description"],
        [
            (*_sys(pid, s.stamps()), name, code, family, 1, 0, f"{name} ({family})")
            for pid, (name, code, family, _) in zip(ids, PRODUCTS, strict=True)
        ],
    )
    s.insert(
        "PricebookEntry",
        [*SYS, "Name", "Pricebook2Id", "Product2Id", "UnitPrice", "IsActive", "UseStandardPrice", "ProductCode"],
        [
            (*_sys(eid, s.stamps()), name, pb, pid, price, 1, 0, code)
            for eid, pid, (name, code, _, price) in zip(entries, ids, PRODUCTS, strict=True)
        ],
    )
    return [
        (pid, eid, price, f"{code}|{name}")
        for pid, eid, (name, code, _, price) in zip(ids, entries, PRODUCTS, strict=True)
    ]


def _accounts(s: Seeder, n: int) -> list[str]:
    ids = s.ids("001", n)
    r = s.rng
    cols = [
        *SYS,
        "Name",
        "Type",
        "Industry",
        "AnnualRevenue",
        "NumberOfEmployees",
        "Phone",
        "Website",
        "BillingStreet",
        "BillingCity",
        "BillingState",
        "BillingPostalCode",
        "BillingCountry",
        "OwnerId",
        "Rating",
        "AccountSource",
        "IsPartner",
        "IsCustomerPortal",
        "External_Key__c",
        "Customer_Tier__c",
    ]

    def rows() -> Iterator[tuple]:
        for i, rid in enumerate(ids):
            name = f"{r.choice(WORDS)} {r.choice(WORDS)} {r.choice(SUFFIX)}"
            city, state, country = r.choice(CITIES)
            domain = name.split()[0].lower() + name.split()[1].lower() + str(i)
            yield (
                *_sys(rid, s.stamps()),
                name,
                r.choice(["Prospect", "Customer - Direct", "Customer - Channel", "Other"]),
                r.choice(INDUSTRIES),
                float(r.randrange(1, 500) * 100000),
                r.randrange(5, 20000),
                f"+1 555 {r.randrange(100, 999)} {r.randrange(1000, 9999)}",
                f"https://www.{domain}.example.com",
                f"{r.randrange(1, 999)} Market St",
                city,
                state,
                f"{r.randrange(10000, 99999)}",
                country,
                r.choice(s.users),
                r.choice(["Hot", "Warm", "Cold"]),
                r.choice(SOURCES),
                0,
                0,
                f"ACC-{i:07d}",
                r.choice(["Gold", "Silver", "Bronze", None]),
            )

    s.insert("Account", cols, rows())
    return ids


def _contacts(s: Seeder, accounts: list[str], per: float) -> list[tuple[int, int]]:
    """Returns, per account, the (start, end) slice of the contact Id list."""
    r = s.rng
    sizes = [max(0, int(per + r.uniform(-1.5, 1.5) + 0.5)) for _ in accounts]
    ids = s.ids("003", sum(sizes))
    ranges = []
    cols = [
        *SYS,
        "AccountId",
        "FirstName",
        "LastName",
        "Name",
        "Email",
        "Phone",
        "Title",
        "LeadSource",
        "MailingCity",
        "MailingCountry",
        "OwnerId",
        "IsEmailBounced",
    ]

    def rows() -> Iterator[tuple]:
        pos = 0
        for acc, size in zip(accounts, sizes, strict=True):
            ranges.append((pos, pos + size))
            for _ in range(size):
                first, last = r.choice(FIRST), r.choice(LAST)
                city, _, country = r.choice(CITIES)
                rid = ids[pos]
                yield (
                    *_sys(rid, s.stamps()),
                    acc,
                    first,
                    last,
                    f"{first} {last}",
                    f"{first.lower()}.{last.lower()}{pos}@example.com",
                    f"+1 555 {r.randrange(100, 999)} {r.randrange(1000, 9999)}",
                    r.choice(TITLES),
                    r.choice(SOURCES),
                    city,
                    country,
                    r.choice(s.users),
                    0,
                )
                pos += 1

    s.insert("Contact", cols, rows())
    s.contact_ids = ids
    return ranges


def _opportunities(s: Seeder, accounts: list[str], per: float, lines_per: float, products) -> list[tuple[str, str]]:
    r = s.rng
    sizes = [max(0, int(per + r.uniform(-1, 1) + 0.5)) for _ in accounts]
    ids = s.ids("006", sum(sizes))
    opp_cols = [
        *SYS,
        "AccountId",
        "Name",
        "StageName",
        "Amount",
        "Probability",
        "ExpectedRevenue",
        "CloseDate",
        "Type",
        "LeadSource",
        "NextStep",
        "IsClosed",
        "IsWon",
        "ForecastCategory",
        "ForecastCategoryName",
        "HasOpportunityLineItem",
        "OwnerId",
        "IsPrivate",
        "FiscalYear",
        "FiscalQuarter",
        "Fiscal",
        "Pricebook2Id",
        "HasOpenActivity",
        "HasOverdueTask",
    ]
    line_cols = [
        *SYS,
        "OpportunityId",
        "PricebookEntryId",
        "Product2Id",
        "ProductCode",
        "Name",
        "Quantity",
        "UnitPrice",
        "ListPrice",
        "TotalPrice",
        "ServiceDate",
    ]
    lines: list[tuple] = []
    line_total = 0
    pb = s.conn.execute('SELECT "Id" FROM "Pricebook2" LIMIT 1').fetchone()[0]
    out = []
    sql_lines = (
        f'INSERT INTO "OpportunityLineItem" ({", ".join(map(quote, line_cols))}) '
        f"VALUES ({', '.join('?' * len(line_cols))})"
    )

    def rows() -> Iterator[tuple]:
        nonlocal line_total
        pos = 0
        for acc, size in zip(accounts, sizes, strict=True):
            for _ in range(size):
                rid = ids[pos]
                pos += 1
                stage = r.choice(STAGE_NAMES)
                prob, closed, won, forecast = STAGES[stage]
                close = s.today + dt.timedelta(days=r.randrange(-365, 180))
                st = s.stamps()
                name = f"{r.choice(WORDS)} {r.choice(['Expansion', 'Renewal', 'New Business', 'Pilot', 'Upgrade'])}"
                n_lines = max(0, int(lines_per + r.uniform(-1.5, 1.5) + 0.5))
                amount = 0.0
                if n_lines:
                    line_ids = s.ids("00k", n_lines)
                    for lid in line_ids:
                        pid, eid, price, code_name = r.choice(products)
                        code, pname = code_name.split("|")
                        qty = float(r.randrange(1, 20))
                        total = round(qty * price, 2)
                        amount += total
                        lines.append(
                            (
                                *_sys(lid, st),
                                rid,
                                eid,
                                pid,
                                code,
                                f"{name} {pname}",
                                qty,
                                price,
                                price,
                                total,
                                close.isoformat(),
                            )
                        )
                    if len(lines) >= 20000:
                        s.conn.executemany(sql_lines, lines)
                        line_total += len(lines)
                        lines.clear()
                else:
                    amount = float(r.randrange(1, 200) * 1000)
                out.append((rid, acc))
                yield (
                    *_sys(rid, st),
                    acc,
                    name,
                    stage,
                    amount,
                    float(prob),
                    round(amount * prob / 100, 2),
                    close.isoformat(),
                    r.choice(["New Customer", "Existing Customer - Upgrade", None]),
                    r.choice(SOURCES),
                    r.choice(["Send proposal", "Schedule demo", "Negotiate terms", None]),
                    closed,
                    won,
                    {"Omitted": "Omitted", "Closed": "Closed"}.get(forecast, "Pipeline"),
                    {"Omitted": "Omitted", "Closed": "Closed"}.get(forecast, "Pipeline"),
                    int(n_lines > 0),
                    r.choice(s.users),
                    0,
                    close.year,
                    (close.month - 1) // 3 + 1,
                    f"{close.year} {(close.month - 1) // 3 + 1}",
                    pb,
                    0,
                    0,
                )

    s.insert("Opportunity", opp_cols, rows())
    if lines:
        s.conn.executemany(sql_lines, lines)
    return out


def _leads(s: Seeder, n: int) -> None:
    r = s.rng
    ids = s.ids("00Q", n)
    cols = [
        *SYS,
        "FirstName",
        "LastName",
        "Name",
        "Company",
        "Email",
        "Phone",
        "Title",
        "Status",
        "LeadSource",
        "Industry",
        "Rating",
        "City",
        "Country",
        "OwnerId",
        "IsConverted",
        "IsUnreadByOwner",
    ]

    def rows() -> Iterator[tuple]:
        for i, rid in enumerate(ids):
            first, last = r.choice(FIRST), r.choice(LAST)
            city, _, country = r.choice(CITIES)
            yield (
                *_sys(rid, s.stamps()),
                first,
                last,
                f"{first} {last}",
                f"{r.choice(WORDS)} {r.choice(SUFFIX)}",
                f"{first.lower()}.{last.lower()}.lead{i}@example.org",
                f"+1 555 {r.randrange(100, 999)} {r.randrange(1000, 9999)}",
                r.choice(TITLES),
                r.choice(LEAD_STATUS),
                r.choice(SOURCES),
                r.choice(INDUSTRIES),
                r.choice(["Hot", "Warm", "Cold"]),
                city,
                country,
                r.choice(s.users),
                0,
                0,
            )

    s.insert("Lead", cols, rows())


def _activities(s: Seeder, table: str, prefix: str, n: int, accounts: list[str], contacts_of, opps) -> None:
    r = s.rng
    ids = s.ids(prefix, n)
    archive_before = (s.today - dt.timedelta(days=defaults.ACTIVITY_ARCHIVE_DAYS)).isoformat()
    contact_ids = getattr(s, "contact_ids", [])
    if table == "Task":
        cols = [
            *SYS,
            "Subject",
            "TaskSubtype",
            "Type",
            "ActivityDate",
            "Status",
            "Priority",
            "IsHighPriority",
            "IsClosed",
            "WhatId",
            "WhoId",
            "AccountId",
            "OwnerId",
            "Description",
            "IsArchived",
            "IsReminderSet",
            "IsRecurrence",
            "CallDurationInSeconds",
            "CallType",
        ]
    else:
        cols = [
            *SYS,
            "Subject",
            "EventSubtype",
            "Type",
            "ActivityDate",
            "ActivityDateTime",
            "StartDateTime",
            "EndDateTime",
            "EndDate",
            "DurationInMinutes",
            "WhatId",
            "WhoId",
            "AccountId",
            "OwnerId",
            "Description",
            "Location",
            "ShowAs",
            "IsAllDayEvent",
            "IsPrivate",
            "IsChild",
            "IsGroupEvent",
            "IsArchived",
            "IsReminderSet",
            "IsRecurrence",
            "IsRecurrence2",
            "IsRecurrence2Exclusion",
            "IsRecurrence2Exception",
        ]

    def rows() -> Iterator[tuple]:
        for rid in ids:
            ai = r.randrange(len(accounts))
            acc = accounts[ai]
            start, end = contacts_of[ai]
            who = contact_ids[r.randrange(start, end)] if end > start else None
            what = acc
            if opps and r.random() < 0.4:
                what, acc = opps[r.randrange(len(opps))]
                who = None
            day = s.today + dt.timedelta(days=r.randrange(-420, 30))
            st = s.stamps(max_age_days=max((s.today - day).days, 1)) if day < s.today else s.stamps(30)
            archived = int(day.isoformat() < archive_before)
            if table == "Task":
                subject, subtype = r.choice(TASK_SUBJECTS)
                status = "Completed" if day < s.today and r.random() < 0.8 else r.choice(["Not Started", "In Progress"])
                priority = r.choice(["Normal", "Normal", "High", "Low"])
                call = subtype == "Call"
                yield (
                    *_sys(rid, st),
                    subject,
                    subtype,
                    "Call" if call else ("Email" if subtype == "Email" else "Other"),
                    day.isoformat(),
                    status,
                    priority,
                    int(priority == "High"),
                    int(status == "Completed"),
                    what,
                    who,
                    acc,
                    r.choice(s.users),
                    f"{subject} about {what[:3]}",
                    archived,
                    0,
                    0,
                    r.randrange(30, 1800) if call else None,
                    r.choice(["Outbound", "Inbound"]) if call else None,
                )
            else:
                begin = dt.datetime.combine(day, dt.time(r.randrange(8, 18), r.choice([0, 30])), tzinfo=dt.UTC)
                minutes = r.choice([15, 30, 45, 60, 90])
                finish = begin + dt.timedelta(minutes=minutes)
                b, f = begin.strftime("%Y-%m-%dT%H:%M:%S.000+0000"), finish.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
                yield (
                    *_sys(rid, st),
                    r.choice(["Meeting", "Demo", "Call", "Lunch"]),
                    "Event",
                    "Meeting",
                    day.isoformat(),
                    b,
                    b,
                    f,
                    f[:10],
                    minutes,
                    what,
                    who,
                    acc,
                    r.choice(s.users),
                    "Agenda: review",
                    r.choice(["Zoom", "Office", "Customer site"]),
                    "Busy",
                    0,
                    0,
                    0,
                    0,
                    archived,
                    0,
                    0,
                    0,
                    0,
                    0,
                )

    s.insert(table, cols, rows())


def _projects(s: Seeder, accounts: list[str], n: int) -> list[tuple[str, str]]:
    """Returns (Id, start date) per project."""
    r = s.rng
    ids = s.ids("a01", n)
    cols = [*SYS, "Name", "OwnerId", "Account__c", "Status__c", "Budget__c", "Start_Date__c"]
    out = []

    def rows() -> Iterator[tuple]:
        for i, rid in enumerate(ids):
            head = (
                *_sys(rid, s.stamps()),
                f"Project {i + 1}",
                r.choice(s.users),
                r.choice(accounts),
                r.choice(["Planned", "Active", "Done"]),
                float(r.randrange(10, 500) * 1000),
            )
            start = (s.today - dt.timedelta(days=r.randrange(0, 300))).isoformat()
            out.append((rid, start))
            yield (*head, start)

    s.insert("Project__c", cols, rows())
    return out


def _milestones(s: Seeder, projects: list[tuple[str, str]], per: int, now: str) -> None:
    """Milestone__c, created through the control API's code path, then a few milestones a project, a week or more
    apart from the project's start."""
    if s.store.schema.get(MILESTONE["name"]) is None:
        create_object(s.store, s.conn, now, MILESTONE)
    r = s.rng
    sizes = [max(1, per + r.randrange(-2, 3)) for _ in projects]
    ids = s.ids(s.store.schema.get(MILESTONE["name"]).key_prefix, sum(sizes))
    cols = [*SYS, "Name", "Project__c", "Due_Date__c", "Status__c", "Percent_Complete__c", "Is_Billable__c", "Notes__c"]

    def rows() -> Iterator[tuple]:
        pos = 0
        for (project, start), size in zip(projects, sizes, strict=True):
            due = dt.date.fromisoformat(start)
            for step in range(size):
                due += dt.timedelta(days=r.randrange(7, 45))
                done = due < s.today
                status = "Done" if done and r.random() < 0.85 else r.choice(["Not Started", "In Progress", "Blocked"])
                yield (
                    *_sys(ids[pos], s.stamps(max_age_days=300)),
                    MILESTONE_NAMES[step % len(MILESTONE_NAMES)],
                    project,
                    due.isoformat(),
                    status,
                    100.0 if status == "Done" else float(r.randrange(0, 10) * 10),
                    int(r.random() < 0.6),
                    r.choice([None, "On track", "Waiting on the customer", "Needs sign-off"]),
                )
                pos += 1

    s.insert(MILESTONE["name"], cols, rows())


def _cases(s: Seeder, accounts: list[str], contacts_of: list[tuple[int, int]], n: int, rng: random.Random) -> None:
    """Support cases of existing accounts, most with one of the account's contacts, numbered as Salesforce numbers
    them. Drawn from their own ``rng``: the data seeded before Case existed stays what it was."""
    c = copy.copy(s)
    c.rng = rng
    number = s.store.schema.get("Case").field("CaseNumber")
    first = s.store.next_auto_number(s.conn, "Case", number.start_number, n)
    ids = c.ids("500", n)
    contact_ids = getattr(s, "contact_ids", [])
    cols = [
        *SYS,
        "CaseNumber",
        "AccountId",
        "ContactId",
        "Subject",
        "Description",
        "Status",
        "Priority",
        "Origin",
        "Type",
        "Reason",
        "IsClosed",
        "ClosedDate",
        "IsEscalated",
        "OwnerId",
    ]

    def rows() -> Iterator[tuple]:
        for i, rid in enumerate(ids):
            ai = rng.randrange(len(accounts))
            start, end = contacts_of[ai]
            contact = contact_ids[rng.randrange(start, end)] if end > start and rng.random() < 0.85 else None
            stamps = c.stamps(max_age_days=365)
            status = rng.choice(CASE_STATUS)
            closed = status == "Closed"
            subject = rng.choice(CASE_SUBJECTS)
            yield (
                *_sys(rid, stamps),
                format_auto_number(number.display_format, first + i, stamps[0]),
                accounts[ai],
                contact,
                subject,
                f"{subject}: reported by the customer.",
                status,
                rng.choice(["High", "Medium", "Medium", "Low"]),
                rng.choice(["Phone", "Email", "Web"]),
                rng.choice(["Mechanical", "Electrical", "Electronic", "Structural", "Other", None]),
                rng.choice(["Installation", "Performance", "Breakdown", "Feedback", "Other", None]),
                int(closed),
                stamps[1] if closed else None,
                int(status == "Escalated"),
                rng.choice(c.users),
            )

    c.insert("Case", cols, rows())


# -- generated rows for a custom object --------------------------------------------------------------------------------
GENERATE_MAX = 2_000_000
# Words of generated rows (their own list: the demo seed's WORDS must not change, or the demo data would).
GENERATED_WORDS = [
    "alpha",
    "bravo",
    "cedar",
    "delta",
    "ember",
    "fjord",
    "garnet",
    "harbor",
    "indigo",
    "juniper",
    "kestrel",
]


def generate(store: Store, conn: sqlite3.Connection, now: str, object_name: str, rows: int, seed: str = "") -> int:
    """Inserts ``rows`` generated records of a custom object created through the control API straight into its
    table, as the seed does (no per-record validation or API usage; a million rows of 30 fields in well under a
    minute): a value of its type for every stored field, within its length, precision and picklist; blanks in
    about one optional field in ten; unique and external id fields unique; lookups to existing records of their
    targets (a master-detail one always set); owners and audit stamps from the org's active users. The same
    ``seed`` on the same org gives the same rows. Returns the number of rows inserted."""
    o = store.schema.get(object_name)
    if o is None or not o.created:
        raise KeyError(f"no custom object {object_name} created through the control API")
    if not 0 < rows <= GENERATE_MAX:
        raise ValueError(f"rows must be between 1 and {GENERATE_MAX:,}")
    rng = random.Random(f"sfsim-generate-{seed}")
    s = Seeder(store, conn, now, rng)
    s.users = [u for (u,) in conn.execute('SELECT "Id" FROM "User" WHERE "IsActive" = 1 ORDER BY "Id"')]
    fields = [f for f in o.stored_fields if f.name not in SYS and f.name not in ("OwnerId", "Name")]
    value = _generated_values(s, conn, fields)
    name = o.field("Name")
    owner = o.field("OwnerId") is not None
    first = store.next_auto_number(conn, o.name, name.start_number, rows) if name.auto_number else 0
    ids = s.ids(o.key_prefix, rows)
    cols = [*SYS, "Name", *(["OwnerId"] if owner else []), *(f.name for f in fields)]

    def generated() -> Iterator[tuple]:
        for i, rid in enumerate(ids):
            stamps = s.stamps()
            label = format_auto_number(name.display_format, first + i, stamps[0]) if name.auto_number else None
            yield (
                *_sys(rid, stamps),
                label or f"{o.label} {i + 1}",
                *([rng.choice(s.users)] if owner else []),
                *(value(f, i) for f in fields),
            )

    s.insert(o.name, cols, generated())
    return rows


def _generated_values(s: Seeder, conn: sqlite3.Connection, fields: list[Any]) -> Callable[[Any, int], object]:
    """A generated value of one of ``fields`` for row ``i`` (``generate``'s and ``fill``'s): of the field's type,
    within its length, precision and picklist; blanks in about one optional field in ten; unique and external id
    fields unique; lookups to existing records of their targets."""
    rng = s.rng
    parents: dict[str, list[str]] = {}
    for f in fields:
        if f.type == "reference":
            found = []
            for target in f.reference_to:
                found += [i for (i,) in conn.execute(f"SELECT Id FROM {quote(target)} ORDER BY Id LIMIT 10000")]
            if not found and not f.nillable:
                raise ValueError(f"{f.name} needs a {' or '.join(f.reference_to)} record to point to; there is none")
            parents[f.name] = found

    def value(f: Any, i: int) -> object:
        if f.type == "boolean":
            return int(rng.random() < 0.5)
        if f.nillable and not (f.unique or f.external_id) and rng.random() < 0.1:
            return None
        t = f.type
        if t == "reference":
            return rng.choice(parents[f.name]) if parents[f.name] else None
        if f.unique or f.external_id:
            return f"{f.name[:-3].upper()}-{i:08d}"[: f.length or None] if t not in NUMBER_TYPES else i
        if t in ("picklist", "combobox"):
            return rng.choice(f.picklist) if f.picklist else f"{GENERATED_WORDS[i % len(GENERATED_WORDS)]}"
        if t == "multipicklist":
            return ";".join(sorted(rng.sample(f.picklist, min(len(f.picklist), rng.randrange(1, 3))))) or None
        if t in NUMBER_TYPES:
            whole = 10 ** max(min(f.precision - f.scale, 9), 0) - 1 if f.precision else 10**6
            high = min(whole, 100) if t == "percent" else whole
            return rng.randrange(0, high + 1) if t == "int" or f.scale == 0 else round(rng.uniform(0, high), f.scale)
        if t == "date":
            return (s.today - dt.timedelta(days=rng.randrange(-365, 730))).isoformat()
        if t == "datetime":
            return _fmt(s.now_ts - rng.random() * 730 * 86400)
        if t == "email":
            return f"{rng.choice(FIRST).lower()}.{i}@{rng.choice(GENERATED_WORDS)}.example.com"
        if t == "phone":
            return f"+1 {rng.randrange(200, 999)} 555 {rng.randrange(10000):04d}"
        if t == "url":
            return f"https://www.{rng.choice(GENERATED_WORDS)}{i % 997}.example.com/{rng.choice(GENERATED_WORDS)}"
        if t == "textarea":
            text = " ".join(rng.choice(GENERATED_WORDS) for _ in range(rng.randrange(3, 25)))
            return (f"{text}.\nRow {i + 1}." if rng.random() < 0.3 else f"{text}.")[: f.length or None]
        if t in TEXT_TYPES:
            return f"{rng.choice(GENERATED_WORDS).title()} {rng.choice(LAST)} {i + 1}"[: f.length or None]
        return None  # a type the generator does not fill (left blank)

    return value


def fill(
    store: Store, conn: sqlite3.Connection, now: str, object_name: str, field_names: list[str], seed: str = ""
) -> int:
    """Sets generated values (as ``generate`` makes them) in ``field_names`` of every existing record of
    ``object_name``, a standard or a custom object, straight in its table: for benchmarks that need a standard object
    as wide as a custom one. Stamps are left as they are (a load, not a change). Returns the number of records."""
    o = store.schema.get(object_name)
    if o is None:
        raise KeyError(f"no object {object_name}")
    fields = []
    for field_name in field_names:
        f = o.field(field_name)
        if f is None or f.name in SYS or f.calculated:
            raise ValueError(f"{object_name}.{field_name} is not a stored field sfsim can fill")
        fields.append(f)
    rng = random.Random(f"sfsim-fill-{seed}")
    s = Seeder(store, conn, now, rng)
    value = _generated_values(s, conn, fields)
    ids = [i for (i,) in conn.execute(f'SELECT "Id" FROM {quote(o.name)} ORDER BY "Id"')]
    sets = ", ".join(f"{quote(f.name)} = ?" for f in fields)
    sql = f'UPDATE {quote(o.name)} SET {sets} WHERE "Id" = ?'
    for offset in range(0, len(ids), 20000):
        conn.executemany(
            sql, [(*(value(f, i) for f in fields), rid) for i, rid in enumerate(ids[offset : offset + 20000], offset)]
        )
    return len(ids)
