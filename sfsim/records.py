"""Writing records as Salesforce does: type coercion, validation with Salesforce's error codes and messages,
permission checks, the fields Salesforce derives itself, audit fields, the recycle bin, merge and lead convert.

Every function runs inside the caller's transaction (``Store.transaction``)."""

import datetime as dt
import functools
import re
import sqlite3
import uuid
from dataclasses import dataclass

from . import assignments, ids
from .clock import format_date, format_datetime, normalize_datetime, parse_datetime
from .defaults import ACTIVITY_ARCHIVE_DAYS as ARCHIVE_DAYS
from .errors import SFError, insufficient_access, not_found
from .permissions import Perms
from .schema import AUDIT_FIELDS, TEXT_TYPES, Field, SObject
from .store import Store, quote

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
STAGES = {
    # stage: (probability, closed, won, forecast category)
    "Prospecting": (10, 0, 0, "Pipeline"),
    "Qualification": (10, 0, 0, "Pipeline"),
    "Needs Analysis": (20, 0, 0, "Pipeline"),
    "Value Proposition": (50, 0, 0, "Pipeline"),
    "Id. Decision Makers": (60, 0, 0, "Pipeline"),
    "Perception Analysis": (70, 0, 0, "Pipeline"),
    "Proposal/Price Quote": (75, 0, 0, "Pipeline"),
    "Negotiation/Review": (90, 0, 0, "Pipeline"),
    "Closed Won": (100, 1, 1, "Closed"),
    "Closed Lost": (0, 1, 0, "Omitted"),
}
FORECAST_API = {
    "Pipeline": "Pipeline",
    "Best Case": "BestCase",
    "Commit": "Forecast",
    "Closed": "Closed",
    "Omitted": "Omitted",
}
INSERT_DEFAULTS = {
    "Task": {"Status": "Not Started", "Priority": "Normal", "TaskSubtype": "Task"},
    "Event": {"ShowAs": "Busy", "EventSubtype": "Event"},
    "Lead": {"Status": "Open - Not Contacted"},
    "Case": {"Status": "New", "Priority": "Medium"},  # the defaults of its recorded describe
    "Organization": {},
    assignments.ASSIGNMENT: {"IsActive": 1},
}
JSON_TYPE_NAMES = {
    "int": "int",
    "double": "double",
    "currency": "double",
    "percent": "double",
    "date": "Date",
    "datetime": "Datetime",
    "boolean": "boolean",
}


@dataclass
class Actor:
    """Who writes, and when: the connected user through the API, or a named user through the control API."""

    user_id: str
    perms: Perms | None  # None: no permission checks (control API)
    now: str  # formatted datetime
    modstamp: str | None = None  # an explicit (back-dated) SystemModstamp


def _json_error(f: Field, value) -> SFError:
    typ = JSON_TYPE_NAMES.get(f.type, f.type)
    shown = "VALUE_STRING" if isinstance(value, str) else "VALUE_" + type(value).__name__.upper()
    return SFError(
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {typ} from {shown} value {value} or request may be missing a "
        f"required field at [line:1, column:1]",
    )


ACTIVITIES = ("Task", "Event")


class Writer:
    def __init__(self, store: Store, conn: sqlite3.Connection, actor: Actor):
        self.store = store
        self.conn = conn
        self.actor = actor
        # Ids this writer found to be live records (a request's 200 records often name the same owner or parent);
        # forgotten whenever this writer deletes, merges or converts anything.
        self._live: set[str] = set()
        self._looked_up: dict[tuple[str, str, str], tuple | None] = {}  # parents' columns read for derived fields
        self.schema = store.schema
        self.csv_rows = False  # values come from Bulk API CSV (type errors are per-record, not JSON parser errors)

    # -- coercion --------------------------------------------------------------------------------------------------
    def _bad_value(self, f: Field, value: object) -> SFError:
        """A value of the wrong type: JSON bodies fail to deserialize; Bulk API CSV rows fail record by record."""
        if self.csv_rows:
            return SFError(
                "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{f.label}: value not of required type: {value}", fields=[f.name]
            )
        return _json_error(f, value)

    def coerce(self, o: SObject, f: Field, value: object) -> object:
        if value is None or (value == "" and f.type not in TEXT_TYPES):
            return None
        t = f.type
        if t in TEXT_TYPES:
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise self._bad_value(f, value)
            s = str(value)
            if s == "":
                return None
            if len(s) > f.length > 0:
                raise SFError(
                    "STRING_TOO_LONG", f"{f.label}: data value too large: {s} (max length={f.length})", fields=[f.name]
                )
            if t == "email" and not EMAIL_RE.match(s):
                raise SFError("INVALID_EMAIL_ADDRESS", f"{f.label}: invalid email address: {s}", fields=[f.name])
            if f.restricted and t == "picklist" and s not in f.picklist:
                raise SFError(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{f.label}: bad value for restricted picklist field: {s}",
                    fields=[f.name],
                )
            if f.restricted and t == "multipicklist":
                bad = [v for v in s.split(";") if v not in f.picklist]
                if bad:
                    raise SFError(
                        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                        f"{f.label}: bad value for restricted picklist field: {bad[0]}",
                        fields=[f.name],
                    )
            return s
        if t == "boolean":
            if isinstance(value, bool):
                return int(value)
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return int(value.lower() == "true")
            raise self._bad_value(f, value)
        if t == "int":
            try:
                if isinstance(value, bool):
                    raise ValueError
                num = float(value)
                if num != int(num):
                    raise ValueError
                return int(num)
            except (TypeError, ValueError):
                raise self._bad_value(f, value) from None
        if t in ("double", "currency", "percent"):
            try:
                if isinstance(value, bool):
                    raise ValueError
                num = round(float(value), f.scale) if f.scale else float(value)
            except (TypeError, ValueError):
                raise self._bad_value(f, value) from None
            if f.precision and abs(num) >= 10 ** (f.precision - f.scale):
                raise SFError(
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    f"{f.label}: value outside of valid range on numeric field: {value}",
                    fields=[f.name],
                )
            return num
        if t == "date":
            if not isinstance(value, str):
                raise self._bad_value(f, value)
            try:
                return format_date(dt.date.fromisoformat(value[:10]))
            except ValueError:
                raise self._bad_value(f, value) from None
        if t == "datetime":
            if not isinstance(value, str):
                raise self._bad_value(f, value)
            try:
                return normalize_datetime(value)
            except ValueError:
                raise self._bad_value(f, value) from None
        if t == "time":
            return str(value)
        if t in ("reference", "id"):
            return self._reference(o, f, value)
        return value

    def _reference(self, o: SObject, f: Field, value) -> str:
        norm = ids.normalize(value) if isinstance(value, str) else None
        if norm is None:
            raise SFError("MALFORMED_ID", f"{f.label}: id value of incorrect type: {value}", fields=[f.name])
        targets = [self.schema.get(t) for t in f.reference_to]
        target = next((t for t in targets if t is not None and t.key_prefix == norm[:3]), None)
        if target is None:
            if f.name == "OwnerId" and norm[:3] == "00G":
                return norm
            raise SFError("MALFORMED_ID", f"{f.label}: id value of incorrect type: {value}", fields=[f.name])
        if norm in self._live:
            return norm
        row = self.conn.execute(f'SELECT "IsDeleted" FROM {quote(target.name)} WHERE "Id" = ?', (norm,)).fetchone()
        if row is None:
            raise SFError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", fields=[f.name])
        if row[0]:
            raise SFError("ENTITY_IS_DELETED", "entity is deleted", fields=[f.name])
        self._live.add(norm)
        return norm

    def remember_live(self, o: SObject, records: list) -> None:
        """Look up at once (one query per target object) whether the records a request refers to are live: each
        record's own check then finds the answer remembered. Unknown or deleted ones are left to that check (and its
        error)."""
        wanted: dict[str, set[str]] = {}
        for rec in records:
            if not isinstance(rec, dict):
                continue
            for name, value in rec.items():
                f = o.field(name) if name != "attributes" and isinstance(value, str) else None
                norm = ids.normalize(value) if f is not None and f.type == "reference" else None
                if norm:
                    wanted.setdefault(norm[:3], set()).add(norm)
        for prefix, group in wanted.items():
            target = self.schema.by_prefix.get(prefix)
            if target is None or target.tooling or not target.stored_fields:
                continue
            self._live.update(
                row[0]
                for row in self.conn.execute(
                    f'SELECT "Id" FROM {quote(target.name)} WHERE "Id" IN ({", ".join("?" * len(group))}) '
                    'AND "IsDeleted" = 0',
                    sorted(group),
                )
            )

    # -- checks ----------------------------------------------------------------------------------------------------
    def _fields_of(self, o: SObject, values: dict, creating: bool) -> dict:
        perms = self.actor.perms
        out = {}
        readonly = []
        for name, value in values.items():
            if name == "attributes":
                continue
            f = o.field(name)
            if f is None or (perms is not None and not perms.can_read_field(o, f)):
                raise SFError("INVALID_FIELD", f"No such column '{name}' on sobject of type {o.name}")
            allowed = f.createable if creating else f.updateable
            if perms is not None and f.permissionable and not perms.can_edit_field(o, f):
                allowed = False
            if not allowed:
                readonly.append(f.name)
                continue
            out[f.name] = self.coerce(o, f, value)
        if readonly:
            raise SFError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(readonly)}. Please check the security settings "
                f"of this field and verify that it is read/write for your profile or permission set.",
                fields=readonly,
            )
        return out

    def _check_unique(self, o: SObject, row: dict, own_id: str | None) -> None:
        for f in o.fields.values():
            if not f.unique or row.get(f.name) is None:
                continue
            hit = self.conn.execute(
                f'SELECT "Id" FROM {quote(o.name)} WHERE {quote(f.name)} = ? AND "IsDeleted" = 0 AND "Id" IS NOT ?',
                (row[f.name], own_id),
            ).fetchone()
            if hit:
                raise SFError(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {f.name} duplicates value on record with id: {hit[0]}",
                    fields=[f.name],
                )

    def _check_required(self, o: SObject, row: dict) -> None:
        missing = [
            f.name
            for f in o.stored_fields
            if not f.nillable
            and f.createable
            and not f.defaulted_on_create
            and f.type != "boolean"
            and row.get(f.name) is None
        ]
        if o.name == "Event" and not row.get("IsAllDayEvent"):
            if row.get("ActivityDateTime") is None:
                missing.append("ActivityDateTime")
            elif row.get("DurationInMinutes") is None and row.get("EndDateTime") is None:
                missing.append("DurationInMinutes")
        if missing:
            raise SFError(
                "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", fields=missing
            )

    # -- derived fields --------------------------------------------------------------------------------------------
    def _forget(self) -> None:
        """What this writer remembers about other records (live ids, parents' columns), forgotten when it deletes,
        merges or converts; parents' columns also whenever it writes anything but an activity."""
        self._live.clear()
        self._looked_up.clear()

    def _lookup(self, table: str, rid, cols: str):
        if rid is None:
            return None
        key = (table, rid, cols)
        if key not in self._looked_up:
            self._looked_up[key] = self.conn.execute(
                f'SELECT {cols} FROM {quote(table)} WHERE "Id" = ?', (rid,)
            ).fetchone()
        return self._looked_up[key]

    def _derive(self, o: SObject, row: dict, changed: set, creating: bool) -> None:
        name = o.name
        if name in ("Contact", "Lead", "User") and ({"FirstName", "LastName"} & changed or creating):
            row["Name"] = " ".join(p for p in (row.get("FirstName"), row.get("LastName")) if p)
        elif name == "Opportunity":
            if "StageName" in changed or creating:
                prob, closed, won, forecast = STAGES.get(
                    row.get("StageName"), (row.get("Probability"), 0, 0, "Pipeline")
                )
                if "Probability" not in changed:
                    row["Probability"] = float(prob) if prob is not None else None
                row["IsClosed"], row["IsWon"] = closed, won
                if "ForecastCategoryName" not in changed:
                    row["ForecastCategoryName"] = {"Omitted": "Omitted", "Closed": "Closed"}.get(forecast, "Pipeline")
                row["ForecastCategory"] = FORECAST_API.get(row["ForecastCategoryName"], "Pipeline")
            amount, prob = row.get("Amount"), row.get("Probability")
            row["ExpectedRevenue"] = round(amount * prob / 100, 2) if amount is not None and prob is not None else None
            close = row.get("CloseDate")
            if close:
                d = dt.date.fromisoformat(close)
                row["FiscalYear"], row["FiscalQuarter"] = d.year, (d.month - 1) // 3 + 1
                row["Fiscal"] = f"{d.year} {(d.month - 1) // 3 + 1}"
        elif name == "OpportunityLineItem":
            if creating:
                pbe = self._lookup(
                    "PricebookEntry", row.get("PricebookEntryId"), '"Product2Id", "UnitPrice", "ProductCode", "Name"'
                )
                if pbe is None and row.get("Product2Id"):
                    pbe = self.conn.execute(
                        'SELECT "Product2Id", "UnitPrice", "ProductCode", "Name", "Id" FROM "PricebookEntry" '
                        'WHERE "Product2Id" = ? AND "IsDeleted" = 0 ORDER BY "Id" LIMIT 1',
                        (row["Product2Id"],),
                    ).fetchone()
                    if pbe is not None:
                        row["PricebookEntryId"] = pbe[4]
                if pbe is None:
                    raise SFError(
                        "REQUIRED_FIELD_MISSING",
                        "Required fields are missing: [PricebookEntryId]",
                        fields=["PricebookEntryId"],
                    )
                row["Product2Id"], row["ListPrice"], row["ProductCode"] = pbe[0], pbe[1], pbe[2]
                opp = self._lookup("Opportunity", row.get("OpportunityId"), '"Name"')
                row["Name"] = f"{opp[0] if opp else ''} {pbe[3]}".strip()
                if row.get("UnitPrice") is None and row.get("TotalPrice") is None:
                    row["UnitPrice"] = pbe[1]
            qty = row.get("Quantity")
            if qty:
                if "TotalPrice" in changed and "UnitPrice" not in changed and row.get("TotalPrice") is not None:
                    row["UnitPrice"] = round(row["TotalPrice"] / qty, 2)
                elif row.get("UnitPrice") is not None:
                    row["TotalPrice"] = round(row["UnitPrice"] * qty, 2)
        elif name == "PricebookEntry" and creating:
            prod = self._lookup("Product2", row.get("Product2Id"), '"Name", "ProductCode"')
            if prod:
                row["Name"], row["ProductCode"] = prod
        elif name in ("Task", "Event"):
            self._derive_activity(name, row, changed, creating)
        elif name == "Case":
            # "Closed" is the closed status of a new org's case statuses; ClosedDate is when the case last closed.
            closed = row.get("Status") == "Closed"
            if closed and not row.get("IsClosed"):
                row["ClosedDate"] = self.actor.modstamp or self.actor.now
            elif not closed:
                row["ClosedDate"] = None
            row["IsClosed"] = int(closed)

    def _derive_activity(self, name: str, row: dict, changed: set, creating: bool) -> None:
        if name == "Task":
            closed = row.get("Status") == "Completed"
            if closed and not row.get("IsClosed"):
                row["CompletedDateTime"] = self.actor.modstamp or self.actor.now
            row["IsClosed"] = int(closed)
            row["IsHighPriority"] = int(row.get("Priority") == "High")
        else:
            start = row.get("StartDateTime") if "StartDateTime" in changed else None
            start = start or row.get("ActivityDateTime") or row.get("StartDateTime")
            if row.get("IsAllDayEvent") and start is None and row.get("ActivityDate"):
                start = row["ActivityDate"] + "T00:00:00.000+0000"
            if start:
                row["ActivityDateTime"] = row["StartDateTime"] = start
                begin = parse_datetime(start)
                row["ActivityDate"] = format_date(begin.date())
                if "EndDateTime" in changed and row.get("EndDateTime"):
                    end = parse_datetime(row["EndDateTime"])
                    row["DurationInMinutes"] = int((end - begin).total_seconds() // 60)
                elif row.get("DurationInMinutes") is not None:
                    end = begin + dt.timedelta(minutes=row["DurationInMinutes"])
                    row["EndDateTime"] = format_datetime(end)
                elif row.get("EndDateTime"):
                    end = parse_datetime(row["EndDateTime"])
                    row["DurationInMinutes"] = int((end - begin).total_seconds() // 60)
                if row.get("EndDateTime"):
                    row["EndDate"] = row["EndDateTime"][:10]
        if row.get("WhatId") and (row.get("WhoId") or "").startswith("00Q"):
            raise SFError(
                "FIELD_INTEGRITY_EXCEPTION",
                "Related To ID: You can't relate an activity on a lead to another record.",
                fields=["WhatId"],
            )
        # Salesforce archives activities a year old (tasks once closed): only queryAll returns them.
        day = row.get("ActivityDate")
        cutoff = (parse_datetime(self.actor.now).date() - dt.timedelta(days=ARCHIVE_DAYS)).isoformat()
        row["IsArchived"] = int(bool(day) and day < cutoff and (name == "Event" or bool(row.get("IsClosed"))))
        account = None
        what = row.get("WhatId")
        if what and what.startswith("001"):
            account = what
        elif what:
            for table in ("Opportunity", "Contact", "Case", "Project__c"):
                if self.schema.get(table) and what[:3] == self.schema.get(table).key_prefix:
                    col = "Account__c" if table == "Project__c" else "AccountId"
                    hit = self._lookup(table, what, quote(col))
                    account = hit[0] if hit else None
        if account is None and row.get("WhoId", "") and row["WhoId"].startswith("003"):
            hit = self._lookup("Contact", row["WhoId"], '"AccountId"')
            account = hit[0] if hit else None
        row["AccountId"] = account

    # -- the operations --------------------------------------------------------------------------------------------
    def _stamp(self, row: dict, creating: bool) -> None:
        when = self.actor.modstamp or self.actor.now
        if creating:
            row["CreatedDate"] = when
            row["CreatedById"] = self.actor.user_id
            row["IsDeleted"] = 0
        row["LastModifiedDate"] = when
        row["LastModifiedById"] = self.actor.user_id
        row["SystemModstamp"] = when

    def insert(self, o: SObject, values: dict, new_id: str | None = None) -> str:
        if o.name not in ACTIVITIES:
            self._looked_up.clear()  # this write may change what was read of it
        perms = self.actor.perms
        if not o.writable and o.name != assignments.ASSIGNMENT:
            raise insufficient_access(f"entity type {o.name} does not support insert")
        if perms is not None and not perms.can(o, "create"):
            raise insufficient_access()
        if any(k.lower() == "id" for k in values):
            raise SFError("INVALID_FIELD_FOR_INSERT_UPDATE", "Id: cannot specify Id in an insert call", fields=["Id"])
        if o.name == assignments.ASSIGNMENT:
            assignments.check_new(self.conn, values)
        given = self._fields_of(o, values, creating=True)
        row: dict = {}
        for f in o.stored_fields:
            if f.type == "boolean":
                row[f.name] = 0
        row.update(INSERT_DEFAULTS.get(o.name, {}))
        if o.field("OwnerId") is not None:
            row["OwnerId"] = self.actor.user_id
        if o.name == "Product2" or o.name == "Pricebook2":
            row["IsActive"] = 0
        row.update({k: v for k, v in given.items() if v is not None or k not in row})
        self._derive(o, row, set(given), creating=True)
        self._check_required(o, row)
        self._check_unique(o, row, None)
        rid = new_id or self.store.new_ids(self.conn, o.key_prefix)[0]
        row["Id"] = rid
        name = o.name_field
        if name is not None and name.auto_number:  # a custom object's Auto Number Name, Case's CaseNumber
            n = self.store.next_auto_number(self.conn, o.name, name.start_number)
            row[name.name] = format_auto_number(name.display_format, n, self.actor.modstamp or self.actor.now)
        elif o.created and row.get("Name") is None:
            row["Name"] = rid  # Salesforce names a custom object record created without a Name after its Id
        self._stamp(row, creating=True)
        cols = [f.name for f in o.stored_fields if f.name in row]
        self.conn.execute(
            f"INSERT INTO {quote(o.name)} ({', '.join(map(quote, cols))}) VALUES ({', '.join('?' * len(cols))})",
            [row[c] for c in cols],
        )
        self._after_write(o, row)
        return rid

    def _current(self, o: SObject, rid: str) -> dict:
        cols = tuple(f.name for f in o.stored_fields)
        cur = self.conn.execute(_select_current(o.name, cols), (rid,)).fetchone()
        if cur is None:
            raise not_found()
        return dict(zip(cols, cur, strict=True))

    def resolve_id(self, o: SObject, raw: str) -> str:
        rid = ids.normalize(raw)
        if rid is None or rid[:3] != o.key_prefix:
            raise SFError("MALFORMED_ID", f"{o.label} ID: id value of incorrect type: {raw}", fields=["Id"])
        return rid

    def update(self, o: SObject, rid: str, values: dict) -> None:
        if o.name not in ACTIVITIES:
            self._looked_up.clear()  # this write may change what was read of it
        perms = self.actor.perms
        if not o.writable:
            raise insufficient_access(f"entity type {o.name} does not support update")
        if perms is not None and not perms.can(o, "edit"):
            raise insufficient_access()
        values = {k: v for k, v in values.items() if k.lower() != "id"}
        current = self._current(o, rid)
        if current.get("IsDeleted"):
            raise SFError("ENTITY_IS_DELETED", "entity is deleted", 404)
        if o.name == "Lead" and current.get("IsConverted"):
            raise SFError("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", fields=["Id"])
        given = self._fields_of(o, values, creating=False)
        row = dict(current)
        row.update(given)
        nulled = [k for k, v in given.items() if v is None and not o.field(k).nillable]
        if nulled:
            raise SFError(
                "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(nulled)}]", fields=nulled
            )
        self._derive(o, row, set(given), creating=False)
        self._check_unique(o, row, rid)
        self._stamp(row, creating=False)
        changed = [c for c in row if row[c] != current.get(c) or c in AUDIT_FIELDS]
        self.conn.execute(
            f'UPDATE {quote(o.name)} SET {", ".join(quote(c) + " = ?" for c in changed)} WHERE "Id" = ?',
            [row[c] for c in changed] + [rid],
        )
        self._after_write(o, row)

    def _after_write(self, o: SObject, row: dict) -> None:
        """Roll-ups Salesforce maintains on the parent (and so stamps the parent): line items on opportunities; and
        a new permission set assignment changes its user's permissions."""
        if o.name == "OpportunityLineItem" and row.get("OpportunityId"):
            self._rollup_opportunity(row["OpportunityId"])
        elif o.name == assignments.ASSIGNMENT:
            assignments.created(self.store, self.conn)

    def _rollup_opportunity(self, opp_id: str) -> None:
        total, count = self.conn.execute(
            'SELECT SUM("TotalPrice"), COUNT(*) FROM "OpportunityLineItem" WHERE "OpportunityId" = ? '
            'AND "IsDeleted" = 0',
            (opp_id,),
        ).fetchone()
        when = self.actor.modstamp or self.actor.now
        self.conn.execute(
            'UPDATE "Opportunity" SET "Amount" = CASE WHEN ? > 0 THEN ? ELSE "Amount" END, '
            '"HasOpportunityLineItem" = ?, "ExpectedRevenue" = ROUND(CASE WHEN ? > 0 THEN ? ELSE "Amount" END * '
            '"Probability" / 100.0, 2), "SystemModstamp" = ?, "LastModifiedDate" = ?, "LastModifiedById" = ? '
            'WHERE "Id" = ?',
            (count, total, int(count > 0), count, total, when, when, self.actor.user_id, opp_id),
        )

    def delete(self, o: SObject, rid: str, batch: str | None = None) -> None:
        self._forget()
        perms = self.actor.perms
        if not o.writable and o.name != assignments.ASSIGNMENT:
            raise insufficient_access(f"entity type {o.name} does not support delete")
        if perms is not None and not perms.can(o, "delete"):
            raise insufficient_access()
        row = self.conn.execute(f'SELECT "IsDeleted" FROM {quote(o.name)} WHERE "Id" = ?', (rid,)).fetchone()
        if row is None:
            raise not_found()
        if row[0]:
            raise SFError("ENTITY_IS_DELETED", "entity is deleted", 404)
        if o.name == assignments.ASSIGNMENT:
            assignments.remove(self.store, self.conn, rid)
            return
        batch = batch or uuid.uuid4().hex
        self._soft_delete(o, [rid], batch)

    def _soft_delete(self, o: SObject, rids: list[str], batch: str) -> None:
        self._forget()
        when = self.actor.modstamp or self.actor.now
        marks = ", ".join("?" * len(rids))
        self.conn.execute(
            f'UPDATE {quote(o.name)} SET "IsDeleted" = 1, "SystemModstamp" = ?, "LastModifiedDate" = ?, '
            f'"LastModifiedById" = ? WHERE "Id" IN ({marks})',
            [when, when, self.actor.user_id, *rids],
        )
        self.conn.executemany(
            "INSERT OR REPLACE INTO _sfsim_deleted (id, object, deleted_date, batch) VALUES (?, ?, ?, ?)",
            [(rid, o.name, when, batch) for rid in rids],
        )
        for child_name, f in o.children:
            child = self.schema.get(child_name)
            if child is None or not child.writable:
                continue
            if f.cascade_delete or (child.name in ("Task", "Event") and f.name in ("WhatId", "WhoId")):
                kids = [
                    r[0]
                    for r in self.conn.execute(
                        f'SELECT "Id" FROM {quote(child.name)} WHERE {quote(f.name)} IN ({marks}) AND "IsDeleted" = 0',
                        rids,
                    )
                ]
                if kids:
                    self._soft_delete(child, kids, batch)
        if o.name == "OpportunityLineItem":
            for (opp,) in self.conn.execute(
                f'SELECT DISTINCT "OpportunityId" FROM "OpportunityLineItem" WHERE "Id" IN ({marks})', rids
            ):
                self._rollup_opportunity(opp)

    def undelete(self, o: SObject, rid: str) -> None:
        self._forget()
        row = self.conn.execute("SELECT batch, hard FROM _sfsim_deleted WHERE id = ?", (rid,)).fetchone()
        if row is None or row[1]:
            current = self.conn.execute(f'SELECT "IsDeleted" FROM {quote(o.name)} WHERE "Id" = ?', (rid,)).fetchone()
            if current is not None and not current[0]:
                raise SFError("UNDELETE_FAILED", "Entity is not in the recycle bin")
            raise SFError("ENTITY_IS_DELETED", "entity is deleted", 404)
        batch = row[0]
        when = self.actor.modstamp or self.actor.now
        for obj_name, rid_ in self.conn.execute(
            "SELECT object, id FROM _sfsim_deleted WHERE batch = ? AND hard = 0", (batch,)
        ).fetchall():
            self.conn.execute(
                f'UPDATE {quote(obj_name)} SET "IsDeleted" = 0, "SystemModstamp" = ?, "LastModifiedDate" = ?, '
                f'"LastModifiedById" = ?, "MasterRecordId" = NULL WHERE "Id" = ?'
                if self.schema.get(obj_name).field("MasterRecordId")
                else f'UPDATE {quote(obj_name)} SET "IsDeleted" = 0, "SystemModstamp" = ?, "LastModifiedDate" = ?, '
                f'"LastModifiedById" = ? WHERE "Id" = ?',
                (when, when, self.actor.user_id, rid_),
            )
            self.conn.execute("DELETE FROM _sfsim_deleted WHERE id = ?", (rid_,))
            if obj_name == "OpportunityLineItem":
                opp = self._lookup("OpportunityLineItem", rid_, '"OpportunityId"')
                if opp:
                    self._rollup_opportunity(opp[0])

    def hard_delete(self, o: SObject, rid: str) -> None:
        """Removes the row for good; getDeleted keeps reporting it, as Salesforce does until its purge."""
        self._forget()
        row = self.conn.execute(f'SELECT "IsDeleted" FROM {quote(o.name)} WHERE "Id" = ?', (rid,)).fetchone()
        if row is None:
            raise not_found()
        if not row[0]:
            self._soft_delete(o, [rid], uuid.uuid4().hex)
        batch = self.conn.execute("SELECT batch FROM _sfsim_deleted WHERE id = ?", (rid,)).fetchone()[0]
        for obj_name, rid_ in self.conn.execute(
            "SELECT object, id FROM _sfsim_deleted WHERE batch = ? AND hard = 0", (batch,)
        ).fetchall():
            self.conn.execute(f'DELETE FROM {quote(obj_name)} WHERE "Id" = ?', (rid_,))
        self.conn.execute("UPDATE _sfsim_deleted SET hard = 1 WHERE batch = ?", (batch,))

    def empty_recycle_bin(self) -> int:
        self._forget()
        rows = self.conn.execute("SELECT object, id FROM _sfsim_deleted WHERE hard = 0").fetchall()
        for obj_name, rid in rows:
            self.conn.execute(f'DELETE FROM {quote(obj_name)} WHERE "Id" = ?', (rid,))
        self.conn.execute("UPDATE _sfsim_deleted SET hard = 1 WHERE hard = 0")
        return len(rows)

    def merge(self, o: SObject, master_id: str, loser_ids: list[str]) -> None:
        """Salesforce's merge: children move to the master, losers are deleted with MasterRecordId set."""
        self._forget()
        if o.field("MasterRecordId") is None:
            raise SFError("INVALID_TYPE", f"{o.name} does not support merge")
        self._current(o, master_id)
        batch = uuid.uuid4().hex
        when = self.actor.modstamp or self.actor.now
        for loser in loser_ids:
            self._current(o, loser)
            for child_name, f in o.children:
                child = self.schema.get(child_name)
                if child is None or not child.writable or (child.name == o.name and f.name == "MasterRecordId"):
                    continue
                self.conn.execute(
                    f'UPDATE {quote(child.name)} SET {quote(f.name)} = ?, "SystemModstamp" = ?, '
                    f'"LastModifiedDate" = ?, "LastModifiedById" = ? WHERE {quote(f.name)} = ?',
                    (master_id, when, when, self.actor.user_id, loser),
                )
            self.conn.execute(f'UPDATE {quote(o.name)} SET "MasterRecordId" = ? WHERE "Id" = ?', (master_id, loser))
            self._soft_delete(o, [loser], batch)
        self.conn.execute(
            f'UPDATE {quote(o.name)} SET "SystemModstamp" = ?, "LastModifiedDate" = ?, '
            f'"LastModifiedById" = ? WHERE "Id" = ?',
            (when, when, self.actor.user_id, master_id),
        )

    def convert_lead(
        self,
        lead_id: str,
        *,
        account_id: str | None = None,
        contact_id: str | None = None,
        create_opportunity: bool = True,
        opportunity_name: str | None = None,
        converted_status: str = "Closed - Converted",
    ) -> dict:
        self._forget()
        lead_obj = self.schema.get("Lead")
        lead = self._current(lead_obj, lead_id)
        if lead["IsConverted"]:
            raise SFError("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
        if account_id is None:
            account_id = self.insert(
                self.schema.get("Account"),
                {
                    k: v
                    for k, v in {
                        "Name": lead["Company"],
                        "Industry": lead["Industry"],
                        "Phone": lead["Phone"],
                        "Website": lead["Website"],
                        "BillingCity": lead["City"],
                        "BillingCountry": lead["Country"],
                        "OwnerId": lead["OwnerId"],
                    }.items()
                    if v is not None
                },
            )
        if contact_id is None:
            contact_id = self.insert(
                self.schema.get("Contact"),
                {
                    k: v
                    for k, v in {
                        "AccountId": account_id,
                        "FirstName": lead["FirstName"],
                        "LastName": lead["LastName"],
                        "Email": lead["Email"],
                        "Phone": lead["Phone"],
                        "Title": lead["Title"],
                        "LeadSource": lead["LeadSource"],
                        "OwnerId": lead["OwnerId"],
                    }.items()
                    if v is not None
                },
            )
        opp_id = None
        if create_opportunity:
            close = (parse_datetime(self.actor.now) + dt.timedelta(days=30)).date().isoformat()
            opp_id = self.insert(
                self.schema.get("Opportunity"),
                {
                    "AccountId": account_id,
                    "Name": opportunity_name or f"{lead['Company']}-",
                    "StageName": "Prospecting",
                    "CloseDate": close,
                    "OwnerId": lead["OwnerId"],
                },
            )
        when = self.actor.modstamp or self.actor.now
        self.conn.execute(
            'UPDATE "Lead" SET "IsConverted" = 1, "Status" = ?, "ConvertedDate" = ?, "ConvertedAccountId" = ?, '
            '"ConvertedContactId" = ?, "ConvertedOpportunityId" = ?, "SystemModstamp" = ?, "LastModifiedDate" = ?, '
            '"LastModifiedById" = ? WHERE "Id" = ?',
            (converted_status, when[:10], account_id, contact_id, opp_id, when, when, self.actor.user_id, lead_id),
        )
        for table in ("Task", "Event"):
            self.conn.execute(
                f'UPDATE {quote(table)} SET "WhoId" = ?, "AccountId" = ?, "SystemModstamp" = ?, '
                f'"LastModifiedDate" = ? WHERE "WhoId" = ?',
                (contact_id, account_id, when, when, lead_id),
            )
        return {"leadId": lead_id, "accountId": account_id, "contactId": contact_id, "opportunityId": opp_id}


def format_auto_number(display_format: str, n: int, now: str) -> str:
    """An Auto Number's value: ``{000}`` is the number padded to as many digits, ``{YYYY}``/``{YY}``/``{MM}``/
    ``{DD}`` the date."""
    out = re.sub(r"\{(0+)\}", lambda m: str(n).zfill(len(m.group(1))), display_format)
    for token, value in (("{YYYY}", now[:4]), ("{YY}", now[2:4]), ("{MM}", now[5:7]), ("{DD}", now[8:10])):
        out = out.replace(token, value)
    return out


def find_by_external_ids(
    conn: sqlite3.Connection, o: SObject, f: Field, values: list[str | None]
) -> dict[str, list[str]]:
    """``find_by_external_id`` for many values at once (live records only, at most 10 a value): one query."""
    wanted = sorted({v for v in values if v is not None})
    found: dict[str, list[str]] = {}
    if wanted:
        rows = conn.execute(
            f'SELECT {quote(f.name)}, "Id" FROM {quote(o.name)} WHERE {quote(f.name)} IN '
            f'({", ".join("?" * len(wanted))}) AND "IsDeleted" = 0 ORDER BY "Id"',
            wanted,
        )
        for value, rid in rows:
            matches = found.setdefault(str(value), [])
            if len(matches) < 10:
                matches.append(rid)
    return found


def find_by_external_id(
    conn: sqlite3.Connection, o: SObject, f: Field, value: str, include_deleted: bool = False
) -> list[str]:
    deleted = "" if include_deleted else ' AND "IsDeleted" = 0'
    if f.type in ("id",):
        norm = ids.normalize(value)
        value = norm or value
    return [
        r[0]
        for r in conn.execute(f'SELECT "Id" FROM {quote(o.name)} WHERE {quote(f.name)} = ?{deleted} LIMIT 10', (value,))
    ]


@functools.lru_cache(maxsize=512)
def _select_current(table: str, cols: tuple[str, ...]) -> str:
    """The statement reading one record's stored columns (built once per object and set of fields)."""
    return f'SELECT {", ".join(map(quote, cols))} FROM {quote(table)} WHERE "Id" = ?'
