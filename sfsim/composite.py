"""sObject Collections (create, update, upsert, delete, retrieve; 200 records; allOrNone) and Composite
(25 subrequests with references). Each request is one API call, like Salesforce counts it."""

import re

from . import defaults
from .errors import SFError
from .http import API, Ctx, Result
from .records import find_by_external_ids
from .rest import external_field, fetch_records, get_object, read_fields, upsert_one

ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was using AllOrNone header",
    "fields": [],
}


def _records(ctx: Ctx) -> tuple[list, bool]:
    body = ctx.json()
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise SFError("JSON_PARSER_ERROR", "Collection requests need a JSON object with a 'records' array")
    records = body["records"]
    if len(records) > defaults.COLLECTION_MAX_RECORDS:
        raise SFError("EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call")
    return records, bool(body.get("allOrNone", False))


def _run(ctx: Ctx, items: list, all_or_none: bool, one) -> list[dict]:
    """Runs ``one(writer, conn, item)`` per item in one transaction, a savepoint each; allOrNone rolls back all."""
    org = ctx.org
    results: list[dict] = []
    failed = False

    class _Abort(Exception):
        pass

    try:
        with org.store.transaction() as conn:
            writer = org.writer(conn, ctx.user_id, ctx.perms)
            for item in items:
                try:
                    with org.store.savepoint(conn):
                        results.append({"success": True, "errors": [], **one(writer, conn, item)})
                except SFError as e:
                    failed = True
                    res = {"success": False, "errors": [e.record_error()]}
                    if isinstance(item, dict) and item.get("Id"):
                        res = {"id": item["Id"], **res}
                    results.append(res)
            if failed and all_or_none:
                raise _Abort
    except _Abort:
        results = [
            r if not r["success"] else {"id": r.get("id"), "success": False, "errors": [ROLLED_BACK]} for r in results
        ]
        for r in results:
            if r.get("id") is None:
                r.pop("id", None)
    org.stats.add_records("collections", len(items))
    return results


def _type_of(ctx: Ctx, rec: dict):
    attrs = rec.get("attributes") or {}
    typ = attrs.get("type") if isinstance(attrs, dict) else None
    if not typ:
        raise SFError("INVALID_TYPE", "Must send a concrete entity type.")
    o = ctx.org.store.schema.get(typ)
    if o is None or (ctx.perms is not None and not ctx.perms.can_read(o)):
        raise SFError("INVALID_TYPE", f"sObject type '{typ}' is not supported.")
    return o


@API.add("POST", "composite/sobjects", "collections")
def collection_create(ctx: Ctx) -> Result:
    records, all_or_none = _records(ctx)

    def one(writer, conn, rec):
        if not isinstance(rec, dict):
            raise SFError("JSON_PARSER_ERROR", "each record must be a JSON object")
        o = _type_of(ctx, rec)
        if rec.get("Id"):
            raise SFError("INVALID_FIELD", "cannot specify Id in an insert call", fields=["Id"])
        return {"id": writer.insert(o, {k: v for k, v in rec.items() if k != "attributes"})}

    return Result(body=_run(ctx, records, all_or_none, one))


@API.add("PATCH", "composite/sobjects", "collections")
def collection_update(ctx: Ctx) -> Result:
    records, all_or_none = _records(ctx)

    def one(writer, conn, rec):
        o = _type_of(ctx, rec)
        raw = rec.get("Id")
        if not raw:
            raise SFError("MISSING_ARGUMENT", "Id not specified in an update call", fields=["Id"])
        rid = writer.resolve_id(o, raw)
        writer.update(o, rid, {k: v for k, v in rec.items() if k not in ("attributes", "Id")})
        return {"id": rid}

    return Result(body=_run(ctx, records, all_or_none, one))


@API.add("PATCH", "composite/sobjects/<sobject>/<field>", "collections")
def collection_upsert(ctx: Ctx) -> Result:
    o = get_object(ctx, ctx.params["sobject"])
    f = external_field(ctx, o, ctx.params["field"])
    records, all_or_none = _records(ctx)
    known: dict[str, list[str]] | None = None  # records by external id value, looked up once for the request

    def one(writer, conn, rec):
        nonlocal known
        t = _type_of(ctx, rec)
        if t.name != o.name:
            raise SFError("INVALID_TYPE", f"Record type {t.name} does not match the URL's {o.name}")
        value = _external_value(rec, f)
        if value is None:
            raise SFError("MISSING_ARGUMENT", f"{f.name} not specified", fields=[f.name])
        if known is None:
            known = find_by_external_ids(conn, o, f, [_external_value(r, f) for r in records]) if f.type != "id" else {}
            writer.remember_live(o, records)
        try:
            rid, created = upsert_one(
                ctx, conn, o, f, value, rec, writer, None if f.type == "id" else known.get(value, [])
            )
        except SFError as e:
            if e.code == "MULTIPLE_CHOICES":
                raise SFError("DUPLICATE_EXTERNAL_ID", e.message, fields=[f.name]) from None
            raise
        if created:
            known.setdefault(value, []).append(rid)
        return {"id": rid, "created": created}

    return Result(body=_run(ctx, records, all_or_none, one))


def _external_value(rec: object, f) -> str | None:
    if not isinstance(rec, dict):
        return None
    value = next((v for k, v in rec.items() if k.lower() == f.name.lower()), None)
    return None if value in (None, "") else str(value)


@API.add("DELETE", "composite/sobjects", "collections")
def collection_delete(ctx: Ctx) -> Result:
    raw_ids = [i for i in (ctx.query.get("ids") or "").split(",") if i]
    if len(raw_ids) > defaults.COLLECTION_MAX_RECORDS:
        raise SFError("EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call")
    all_or_none = (ctx.query.get("allOrNone") or "false").lower() == "true"
    prefixes = {o.key_prefix: o for o in ctx.org.store.schema.data_objects()}

    def one(writer, conn, raw):
        o = prefixes.get(raw[:3])
        if o is None:
            raise SFError("MALFORMED_ID", f"malformed id {raw}", fields=["Id"])
        rid = writer.resolve_id(o, raw)
        try:
            writer.delete(o, rid)
        except SFError as e:
            if e.code == "NOT_FOUND":
                raise SFError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id") from None
            raise
        return {"id": rid}

    results = _run(ctx, raw_ids, all_or_none, one)
    for raw, r in zip(raw_ids, results, strict=True):
        r.setdefault("id", raw)
    return Result(body=[{"id": r.pop("id"), **r} for r in results])


@API.add("GET POST", "composite/sobjects/<sobject>", "collections")
def collection_retrieve(ctx: Ctx) -> Result:
    o = get_object(ctx, ctx.params["sobject"])
    body = ctx.json() if ctx.method == "POST" else None
    raw_ids = body.get("ids", []) if body else (ctx.query.get("ids") or "").split(",")
    fields = ",".join(body.get("fields", [])) if body else ctx.query.get("fields")
    if not fields:
        raise SFError("MISSING_ARGUMENT", "fields must be specified")
    from . import ids as idmod

    norm = [idmod.normalize(r) for r in raw_ids if r]
    found = fetch_records(ctx, o, [n for n in norm if n], read_fields(ctx, o, fields), include_deleted=False)
    out = []
    for n in norm:
        rec = found.get(n) if n else None
        if rec is not None:
            rec.pop("_deleted", None)
        out.append(rec)
    return Result(body=out)


# -- composite -------------------------------------------------------------------------------------------------------
_REF = re.compile(r"@\{([A-Za-z0-9_]+)\.([^}]+)\}")
HALTED = [
    {
        "errorCode": "PROCESSING_HALTED",
        "message": "The transaction was rolled back since another operation in the same transaction failed.",
    }
]


def _lookup(body, path: str):
    cur = body
    for part in re.findall(r"[^.\[\]]+", path):
        if isinstance(cur, list):
            cur = cur[int(part)]
        elif isinstance(cur, dict):
            cur = cur[part]
        else:
            raise KeyError(part)
    return cur


def _substitute(value, refs: dict):
    if isinstance(value, str):

        def repl(m):
            ref, path = m.group(1), m.group(2)
            if ref not in refs:
                raise KeyError(ref)
            return str(_lookup(refs[ref], path))

        return _REF.sub(repl, value)
    if isinstance(value, dict):
        return {k: _substitute(v, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, refs) for v in value]
    return value


@API.add("POST", "composite", "composite")
def composite(ctx: Ctx) -> Result:
    from .server import dispatch_internal

    body = ctx.json()
    if not isinstance(body, dict) or not isinstance(body.get("compositeRequest"), list):
        raise SFError("JSON_PARSER_ERROR", "compositeRequest is required")
    subs = body["compositeRequest"]
    if len(subs) > defaults.COMPOSITE_MAX_SUBREQUESTS:
        raise SFError(
            "INVALID_FIELD",
            f"Limit Exceeded: Your composite request has {len(subs)} subrequests. The "
            f"maximum is {defaults.COMPOSITE_MAX_SUBREQUESTS}.",
        )
    queries = sum(1 for s in subs if "/query" in str(s.get("url", "")))
    if queries > defaults.COMPOSITE_MAX_QUERIES:
        raise SFError("INVALID_FIELD", "Limit Exceeded: Your composite request has more than 5 query operations.")
    all_or_none = bool(body.get("allOrNone", False))
    refs: dict = {}
    results: list[dict] = []

    class _Abort(Exception):
        pass

    def run_all(conn=None):
        halted = False
        for sub in subs:
            ref_id = sub.get("referenceId")
            if halted:
                results.append({"body": HALTED, "httpHeaders": {}, "httpStatusCode": 400, "referenceId": ref_id})
                continue
            try:
                url = _substitute(sub.get("url", ""), refs)
                sub_body = _substitute(sub.get("body"), refs)
            except (KeyError, IndexError, ValueError) as e:
                results.append(
                    {
                        "body": [
                            {
                                "errorCode": "PROCESSING_HALTED",
                                "message": f"Invalid reference specified. No value for {e} found in "
                                f"{ref_id}. Provided referenceId ({ref_id}).",
                            }
                        ],
                        "httpHeaders": {},
                        "httpStatusCode": 400,
                        "referenceId": ref_id,
                    }
                )
                if all_or_none:
                    halted = True
                continue
            res = dispatch_internal(ctx, sub.get("method", "GET").upper(), url, sub_body)
            headers = {k: v for k, v in res.headers.items() if k == "Location"}
            results.append(
                {"body": res.body, "httpHeaders": headers, "httpStatusCode": res.status, "referenceId": ref_id}
            )
            if res.status < 300 and ref_id:
                refs[ref_id] = res.body
            elif res.status >= 400 and all_or_none:
                halted = True
        if halted and all_or_none:
            raise _Abort

    if all_or_none:
        try:
            with ctx.org.store.transaction() as conn:
                run_all(conn)
        except _Abort:
            for r in results:
                if r["httpStatusCode"] < 400:
                    r.update({"body": HALTED, "httpHeaders": {}, "httpStatusCode": 400})
    else:
        run_all()
    return Result(body={"compositeResponse": results})
