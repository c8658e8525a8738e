"""REST API handlers: resources, limits, describe, records, upsert, query, getUpdated/getDeleted."""

import datetime as dt
import sqlite3
import urllib.parse

from . import defaults, ids
from .clock import format_datetime, parse_datetime
from .errors import SFError, not_found
from .http import API, Ctx, Result
from .query import prefix_types, query_more, run_query
from .records import Writer, find_by_external_id
from .schema import Field, SObject, child_relationships
from .soql import RecordBuilder, compile_soql
from .store import quote


def get_object(ctx: Ctx, name: str) -> SObject:
    o = ctx.org.store.schema.get(name, ctx.tooling)
    if o is None or (ctx.perms is not None and not ctx.perms.can_read(o)):
        raise SFError("NOT_FOUND", "The requested resource does not exist", 404)
    return o


# -- resources, limits ---------------------------------------------------------------------------------------------
@API.add("GET", "", "resources")
def resources(ctx: Ctx) -> Result:
    b = ctx.base
    ident = f"{ctx.req.host_url.rstrip('/') if ctx.req else ''}/id/{ctx.org.org_id}/{ctx.user_id}"
    return Result(
        body={
            "tooling": f"{b}/tooling",
            "metadata": f"{b}/metadata",
            "eclair": f"{b}/eclair",
            "folders": f"{b}/folders",
            "jobs": f"{b}/jobs",
            "composite": f"{b}/composite",
            "query": f"{b}/query",
            "queryAll": f"{b}/queryAll",
            "search": f"{b}/search",
            "recent": f"{b}/recent",
            "limits": f"{b}/limits",
            "sobjects": f"{b}/sobjects",
            "identity": ident,
            "analytics": f"{b}/analytics",
            "theme": f"{b}/theme",
            "tabs": f"{b}/tabs",
        }
    )


@API.add("GET", "limits", "limits")
def limits(ctx: Ctx) -> Result:
    org = ctx.org
    limit = org.daily_limit()
    used = org.usage.used()

    def pair(mx: int, remaining: int) -> dict:
        return {"Max": mx, "Remaining": remaining}

    return Result(
        body={
            "ConcurrentAsyncGetReportInstances": pair(200, 200),
            "DailyApiRequests": pair(limit, max(limit - used, 0)),
            "DailyAsyncApexExecutions": pair(250000, 250000),
            "DailyBulkApiBatches": pair(15000, 15000 - org.bulk.batches_today()),
            "DailyBulkV2QueryFileStorageMB": pair(976562, 976562),
            "DailyBulkV2QueryJobs": pair(10000, 10000 - org.bulk.query_jobs_today()),
            "DataStorageMB": pair(5, 5),
            "FileStorageMB": pair(20, 20),
            "HourlyODataCallout": pair(20000, 20000),
            "SingleEmail": pair(15, 15),
        }
    )


# -- describe --------------------------------------------------------------------------------------------------------
def describe_global(ctx: Ctx) -> dict:
    objs = [
        o
        for o in ctx.org.store.schema.objects.values()
        if o.tooling == ctx.tooling and (ctx.perms is None or ctx.perms.can_read(o))
    ]
    return {
        "encoding": "UTF-8",
        "maxBatchSize": defaults.COLLECTION_MAX_RECORDS,
        "sobjects": [_summary(ctx, o) for o in sorted(objs, key=lambda o: o.name)],
    }


def _summary(ctx: Ctx, o: SObject) -> dict:
    out = o.summary(ctx.version)
    if ctx.tooling:
        out["urls"] = {k: v.replace("/sobjects/", "/tooling/sobjects/") for k, v in out["urls"].items()}
    perms = ctx.perms
    if perms is not None:
        for key, op in (("createable", "create"), ("updateable", "edit"), ("deletable", "delete")):
            out[key] = out[key] and perms.can(o, op)
        out["undeletable"] = out["undeletable"] and out["deletable"]
    return out


def describe_object(ctx: Ctx, o: SObject) -> dict:
    perms = ctx.perms
    fields = []
    for f in o.fields.values():
        if perms is not None and not perms.can_read_field(o, f):
            continue
        d = f.describe()
        if perms is not None and f.permissionable and not perms.can_edit_field(o, f):
            d["createable"] = d["updateable"] = False
        fields.append(d)
    out = _summary(ctx, o)
    out.update(
        {
            "actionOverrides": [],
            "childRelationships": child_relationships(o),
            "compactLayoutable": o.writable,
            "defaultImplementation": None,
            "extendedBy": None,
            "extendsInterfaces": None,
            "fields": fields,
            "implementedBy": None,
            "implementsInterfaces": None,
            "listviewable": None,
            "lookupLayoutable": None,
            "namedLayoutInfos": [],
            "networkScopeFieldName": None,
            "recordTypeInfos": [
                {
                    "active": True,
                    "available": True,
                    "defaultRecordTypeMapping": True,
                    "developerName": "Master",
                    "master": True,
                    "name": "Master",
                    "recordTypeId": "012000000000000AAA",
                    "urls": {"layout": f"{ctx.base}/sobjects/{o.name}/describe/layouts/012000000000000AAA"},
                }
            ]
            if o.writable
            else [],
            "searchLayoutable": o.writable,
            "sobjectDescribeOption": "FULL",
            "supportedScopes": [],
        }
    )
    return out


@API.add("GET", "sobjects", "describe")
@API.add("GET", "tooling/sobjects", "tooling")
def sobjects(ctx: Ctx) -> Result:
    return Result(body=describe_global(ctx))


@API.add("GET", "sobjects/<sobject>/describe", "describe")
@API.add("GET", "tooling/sobjects/<sobject>/describe", "tooling")
def describe(ctx: Ctx) -> Result:
    return Result(body=describe_object(ctx, get_object(ctx, ctx.params["sobject"])))


@API.add("GET", "sobjects/<sobject>", "describe")
def sobject_info(ctx: Ctx) -> Result:
    o = get_object(ctx, ctx.params["sobject"])
    return Result(body={"objectDescribe": _summary(ctx, o), "recentItems": []})


# -- records ---------------------------------------------------------------------------------------------------------
def read_fields(ctx: Ctx, o: SObject, requested: str | None) -> list[str]:
    if requested:
        return [f.strip() for f in requested.split(",") if f.strip()]
    perms = ctx.perms
    return [f.name for f in o.fields.values() if perms is None or perms.can_read_field(o, f)]


def fetch_records(
    ctx: Ctx, o: SObject, rids: list[str], fields: list[str], include_deleted: bool = True
) -> dict[str, dict]:
    """Records by Id through the SOQL compiler, so formulas and permissions apply exactly as in queries."""
    if not rids:
        return {}
    quoted = ", ".join("'" + r + "'" for r in rids)
    names = (
        list(dict.fromkeys(["Id", "IsDeleted", *fields]))
        if o.field("IsDeleted")
        else list(dict.fromkeys(["Id", *fields]))
    )
    soql = f"SELECT {', '.join(names)} FROM {o.name} WHERE Id IN ({quoted})"
    try:
        compiled = compile_soql(
            soql,
            ctx.org.store.schema,
            ctx.perms,
            query_all=include_deleted,
            now=ctx.org.clock.now(),
            tooling=ctx.tooling,
        )
    except SFError as e:
        if e.code == "INVALID_FIELD":
            raise SFError("INVALID_FIELD", e.message.split("\n")[-1]) from None
        raise
    rows = ctx.org.store.conn.execute(compiled.sql, compiled.params).fetchall()
    base = f"{ctx.base}/tooling/sobjects/" if ctx.tooling else f"{ctx.base}/sobjects/"
    records = RecordBuilder(compiled, base, prefix_types(ctx.org)).records(rows)
    out = {}
    wanted = {n.lower() for n in fields}
    for rec in records:
        rid = rec["Id"]
        deleted = rec.get("IsDeleted")
        rec = {k: v for k, v in rec.items() if k == "attributes" or k.lower() in wanted}
        rec["_deleted"] = deleted
        out[rid] = rec
    return out


def _one(ctx: Ctx, o: SObject, rid: str) -> Result:
    fields = read_fields(ctx, o, ctx.query.get("fields"))
    rec = fetch_records(ctx, o, [rid], fields).get(rid)
    if rec is None:
        raise not_found()
    if rec.pop("_deleted"):
        raise SFError("ENTITY_IS_DELETED", "entity is deleted", 404)
    return Result(body=rec)


def _bad_id(raw: str) -> SFError:
    return SFError("NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {raw}", 404)


def _record_id(o: SObject, raw: str) -> str:
    rid = ids.normalize(raw)
    if rid is None or rid[:3] != o.key_prefix:
        raise _bad_id(raw)
    return rid


@API.add("POST", "sobjects/<sobject>", "sobjects")
def create(ctx: Ctx) -> Result:
    o = get_object(ctx, ctx.params["sobject"])
    body = ctx.json()
    if not isinstance(body, dict):
        raise SFError("JSON_PARSER_ERROR", "Cannot deserialize instance of sObject from a non-object value")
    with ctx.org.store.transaction() as conn:
        rid = ctx.org.writer(conn, ctx.user_id, ctx.perms).insert(o, body)
    ctx.org.stats.add_records("sobjects", 1)
    return Result(
        201, {"id": rid, "success": True, "errors": []}, headers={"Location": f"{ctx.base}/sobjects/{o.name}/{rid}"}
    )


@API.add("GET", "sobjects/<sobject>/<rid>", "sobjects")
def read(ctx: Ctx) -> Result:
    o = get_object(ctx, ctx.params["sobject"])
    return _one(ctx, o, _record_id(o, ctx.params["rid"]))


@API.add("PATCH", "sobjects/<sobject>/<rid>", "sobjects")
def update(ctx: Ctx) -> Result:
    o = get_object(ctx, ctx.params["sobject"])
    rid = _record_id(o, ctx.params["rid"])
    body = ctx.json() or {}
    with ctx.org.store.transaction() as conn:
        ctx.org.writer(conn, ctx.user_id, ctx.perms).update(o, rid, body)
    ctx.org.stats.add_records("sobjects", 1)
    return Result(204)


@API.add("DELETE", "sobjects/<sobject>/<rid>", "sobjects")
def delete(ctx: Ctx) -> Result:
    o = get_object(ctx, ctx.params["sobject"])
    rid = _record_id(o, ctx.params["rid"])
    with ctx.org.store.transaction() as conn:
        ctx.org.writer(conn, ctx.user_id, ctx.perms).delete(o, rid)
    ctx.org.stats.add_records("sobjects", 1)
    return Result(204)


def external_field(ctx: Ctx, o: SObject, name: str) -> Field:
    f = o.field(name)
    if (
        f is None
        or not (f.external_id or f.type == "id")
        or (ctx.perms is not None and not ctx.perms.can_read_field(o, f))
    ):
        raise SFError("NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {name}", 404)
    return f


def _matches_response(ctx: Ctx, o: SObject, matches: list[str]) -> Result:
    return Result(300, [f"{ctx.base}/sobjects/{o.name}/{m}" for m in matches])


@API.add("GET", "sobjects/<sobject>/<field>/<value>", "sobjects")
def read_by_external_id(ctx: Ctx) -> Result:
    o = get_object(ctx, ctx.params["sobject"])
    f = external_field(ctx, o, ctx.params["field"])
    matches = find_by_external_id(ctx.org.store.conn, o, f, urllib.parse.unquote(ctx.params["value"]))
    if not matches:
        raise not_found()
    if len(matches) > 1:
        return _matches_response(ctx, o, matches)
    return _one(ctx, o, matches[0])


def upsert_one(
    ctx: Ctx,
    conn: sqlite3.Connection,
    o: SObject,
    f: Field,
    value: str,
    body: dict,
    writer: Writer | None = None,
    matches: list[str] | None = None,
) -> tuple[str, bool]:
    """Update the record whose ``f`` is ``value``, or create it. ``matches``: the records found already (a collection
    looks up all of its values at once)."""
    writer = writer or ctx.org.writer(conn, ctx.user_id, ctx.perms)
    if matches is None:
        matches = find_by_external_id(conn, o, f, value)
    if len(matches) > 1:
        raise SFError(
            "MULTIPLE_CHOICES",
            f"{f.name}: more than one record found for external id field: {matches}",
            300,
            fields=[f.name],
        )
    fields = {k: v for k, v in body.items() if k != "attributes" and k.lower() != f.name.lower()}
    if matches:
        writer.update(o, matches[0], fields)
        return matches[0], False
    if f.type == "id":
        raise not_found()
    return writer.insert(o, {**fields, f.name: value}), True


@API.add("PATCH", "sobjects/<sobject>/<field>/<value>", "sobjects")
def upsert(ctx: Ctx) -> Result:
    o = get_object(ctx, ctx.params["sobject"])
    f = external_field(ctx, o, ctx.params["field"])
    value = urllib.parse.unquote(ctx.params["value"])
    body = ctx.json() or {}
    try:
        with ctx.org.store.transaction() as conn:
            rid, created = upsert_one(ctx, conn, o, f, value, body)
    except SFError as e:
        if e.code == "MULTIPLE_CHOICES":
            return _matches_response(ctx, o, find_by_external_id(ctx.org.store.conn, o, f, value))
        raise
    ctx.org.stats.add_records("sobjects", 1)
    return Result(201 if created else 200, {"id": rid, "success": True, "errors": [], "created": created})


@API.add("DELETE", "sobjects/<sobject>/<field>/<value>", "sobjects")
def delete_by_external_id(ctx: Ctx) -> Result:
    o = get_object(ctx, ctx.params["sobject"])
    f = external_field(ctx, o, ctx.params["field"])
    value = urllib.parse.unquote(ctx.params["value"])
    matches = find_by_external_id(ctx.org.store.conn, o, f, value)
    if not matches:
        raise not_found()
    if len(matches) > 1:
        return _matches_response(ctx, o, matches)
    with ctx.org.store.transaction() as conn:
        ctx.org.writer(conn, ctx.user_id, ctx.perms).delete(o, matches[0])
    return Result(204)


# -- getUpdated / getDeleted -----------------------------------------------------------------------------------------
def _window(ctx: Ctx, max_days: int) -> tuple[dt.datetime, dt.datetime]:
    try:
        start = parse_datetime(ctx.query["start"]).replace(second=0, microsecond=0)
        end = parse_datetime(ctx.query["end"]).replace(second=0, microsecond=0)
    except (KeyError, ValueError):
        raise SFError("MALFORMED_QUERY", "start and end must be valid dateTimes (e.g. 2024-01-01T00:00:00Z)") from None
    now = ctx.org.clock.now()
    if end <= start:
        raise SFError("INVALID_REPLICATION_DATE", "EndDate must be after StartDate")
    if start < now - dt.timedelta(days=max_days):
        raise SFError("INVALID_REPLICATION_DATE", f"startDate cannot be more than {max_days} days ago")
    return start, min(end, now.replace(second=0, microsecond=0))


@API.add("GET", "sobjects/<sobject>/updated", "updated")
def get_updated(ctx: Ctx) -> Result:
    o = get_object(ctx, ctx.params["sobject"])
    start, end = _window(ctx, defaults.GET_UPDATED_MAX_DAYS)
    rows = ctx.org.store.conn.execute(
        f'SELECT "Id" FROM {quote(o.name)} WHERE "SystemModstamp" >= ? AND "SystemModstamp" < ? AND "IsDeleted" = 0 '
        f'ORDER BY "SystemModstamp", "Id" LIMIT ?',
        (format_datetime(start), format_datetime(end), defaults.GET_UPDATED_MAX_IDS + 1),
    ).fetchall()
    if len(rows) > defaults.GET_UPDATED_MAX_IDS:
        raise SFError(
            "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 600000 records into this call"
        )
    return Result(body={"ids": [r[0] for r in rows], "latestDateCovered": format_datetime(end)})


@API.add("GET", "sobjects/<sobject>/deleted", "deleted")
def get_deleted(ctx: Ctx) -> Result:
    o = get_object(ctx, ctx.params["sobject"])
    start, end = _window(ctx, defaults.GET_DELETED_MAX_DAYS)
    rows = ctx.org.store.conn.execute(
        "SELECT id, deleted_date FROM _sfsim_deleted WHERE object = ? AND deleted_date >= ? AND deleted_date < ? "
        "ORDER BY deleted_date, id",
        (o.name, format_datetime(start), format_datetime(end)),
    ).fetchall()
    earliest = (ctx.org.clock.now() - dt.timedelta(days=defaults.GET_DELETED_MAX_DAYS)).replace(second=0)
    return Result(
        body={
            "deletedRecords": [{"id": r[0], "deletedDate": r[1]} for r in rows],
            "earliestDateAvailable": format_datetime(earliest),
            "latestDateCovered": format_datetime(end),
        }
    )


# -- query -----------------------------------------------------------------------------------------------------------
@API.add("GET", "query", "query")
@API.add("GET", "tooling/query", "tooling")
def query(ctx: Ctx) -> Result:
    return Result(body=run_query(ctx, ctx.query.get("q", ""), False))


@API.add("GET", "queryAll", "query")
def query_all(ctx: Ctx) -> Result:
    return Result(body=run_query(ctx, ctx.query.get("q", ""), True))


@API.add("GET", "query/<locator>", "queryMore")
@API.add("GET", "queryAll/<locator>", "queryMore")
@API.add("GET", "tooling/query/<locator>", "tooling")
def query_next(ctx: Ctx) -> Result:
    return Result(body=query_more(ctx, ctx.params["locator"]))
