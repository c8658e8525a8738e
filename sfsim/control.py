"""The control API under ``/_sfsim/``: act as a Salesforce user, change the schema, the clock, limits and faults,
and read statistics. Answers only on loopback, and only when the server runs with ``--control`` or
``SFSIM_CONTROL=1``. Every endpoint is documented in README.md."""

import contextlib
import json
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from . import objects
from . import seed as seeding
from .clock import parse_datetime
from .errors import SFError
from .http import Ctx, error_response, json_response
from .query import run_query
from .rest import fetch_records
from .setup import SCENARIOS, SetupBuilder, create_user, standard_profile_sets

if TYPE_CHECKING:
    from .server import App

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}
ROUTES: list[tuple[str, re.Pattern, object]] = []


def route(method: str, path: str) -> Callable[[Callable], Callable]:
    pattern = re.compile("^/_sfsim" + re.sub(r"<(\w+)>", r"(?P<\1>[^/]+)", path) + "/?$")

    def wrap(fn):
        ROUTES.append((method, pattern, fn))
        return fn

    return wrap


def handle(app: "App", req: Request) -> Response:
    if not app.control_enabled or req.remote_addr not in LOOPBACK:
        return json_response([{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}], 404)
    for method, pattern, fn in ROUTES:
        m = pattern.match(req.path)
        if m and req.method == method:
            try:
                body = json.loads(req.get_data() or b"null") or {}
            except ValueError:
                return json_response({"error": "body must be JSON"}, 400)
            try:
                out = fn(app, req, body, **m.groupdict())
            except SFError as e:
                return error_response(e)
            except (KeyError, ValueError, TypeError) as e:
                return json_response({"error": f"{type(e).__name__}: {e}"}, 400)
            return out if isinstance(out, Response) else json_response(out)
    return json_response({"error": f"no control endpoint {req.method} {req.path}"}, 404)


def _org(app: "App"):
    return app.org


def _user(app, ref: str | None) -> str:
    if not ref:
        return app.org.admin_id
    uid = app.org.find_user(ref)
    if uid is None:
        raise KeyError(f"no user {ref}")
    return uid


def _object(app, name: str):
    o = app.org.store.schema.get(name)
    if o is None:
        raise KeyError(f"no object {name}")
    return o


def _modstamp(body: dict) -> str | None:
    stamp = body.get("system_modstamp")
    return None if stamp is None else parse_datetime(stamp).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


# -- org -------------------------------------------------------------------------------------------------------------
@route("GET", "/health")
def health(app: "App", req: Request, body: dict) -> dict:
    org = _org(app)
    return {"ok": True, "org_id": org.org_id, "scenario": org.store.setting("scenario"), "urls": app.urls}


@route("GET", "/scenarios")
def scenarios(app: "App", req: Request, body: dict) -> dict:
    return {name: s.summary for name, s in SCENARIOS.items()}


@route("POST", "/scenario")
def scenario(app: "App", req: Request, body: dict) -> dict:
    name = body["name"]
    if name not in SCENARIOS:
        raise KeyError(f"unknown scenario {name}")
    app.org.set_scenario(name)
    return {"scenario": name}


@route("POST", "/reset")
def reset(app: "App", req: Request, body: dict) -> dict:
    """Empties the org's records and users (the admin stays), seeds, applies a scenario, and clears faults,
    API usage, statistics, locators and the clock. Access tokens stay valid."""
    org = _org(app)
    org.locators.close_all()
    org.faults.clear()
    org.clock.reset()
    seeding.wipe(org.store, org.admin_id)
    org.set_scenario(body.get("scenario", "ready"))
    seed = str(body.get("seed", "empty"))
    if seed != "empty":
        seeding.seed(org.store, seed, org.now())
        org.set_scenario(body.get("scenario", "ready"))
    org.usage.reset()
    org.stats.reset()
    return {"scenario": org.store.setting("scenario"), "seed": seed, "counts": seeding.counts(org.store)}


@route("GET", "/counts")
def counts(app: "App", req: Request, body: dict) -> dict:
    return seeding.counts(app.org.store)


# -- records as a user -----------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _writer(app, body: dict, as_user: str | None = None) -> Iterator:
    """A writer acting as the named user (``as``), in one transaction."""
    org = _org(app)
    with org.store.transaction() as conn:
        yield org.writer(conn, _user(app, as_user or body.get("as")), None, _modstamp(body))


@route("POST", "/records/<sobject>")
def record_create(app: "App", req: Request, body: dict, sobject: str) -> dict:
    with _writer(app, body) as w:
        return {"id": w.insert(_object(app, sobject), body.get("fields", {}))}


@route("GET", "/records/<sobject>/<rid>")
def record_read(app: "App", req: Request, body: dict, sobject: str, rid: str) -> dict | Response:
    org = _org(app)
    o = _object(app, sobject)
    ctx = Ctx(org=org, req=None, version="59.0", user_id=org.admin_id, perms=None)
    rec = fetch_records(ctx, o, [rid], [f.name for f in o.fields.values()]).get(rid)
    if rec is None:
        return json_response({"error": "not found"}, 404)
    rec.pop("_deleted", None)
    return rec


@route("PATCH", "/records/<sobject>/<rid>")
def record_update(app: "App", req: Request, body: dict, sobject: str, rid: str) -> dict:
    with _writer(app, body) as w:
        w.update(_object(app, sobject), rid, body.get("fields", {}))
    return {"id": rid}


@route("DELETE", "/records/<sobject>/<rid>")
def record_delete(app: "App", req: Request, body: dict, sobject: str, rid: str) -> dict:
    with _writer(app, body, req.args.get("as")) as w:
        w.delete(_object(app, sobject), rid)
    return {"id": rid, "deleted": True}


@route("POST", "/records/<sobject>/<rid>/undelete")
def record_undelete(app: "App", req: Request, body: dict, sobject: str, rid: str) -> dict:
    with _writer(app, body) as w:
        w.undelete(_object(app, sobject), rid)
    return {"id": rid, "undeleted": True}


@route("POST", "/records/<sobject>/<rid>/hard-delete")
def record_hard_delete(app: "App", req: Request, body: dict, sobject: str, rid: str) -> dict:
    with _writer(app, body) as w:
        w.hard_delete(_object(app, sobject), rid)
    return {"id": rid, "hard_deleted": True}


@route("POST", "/recycle-bin/empty")
def recycle_bin_empty(app: "App", req: Request, body: dict) -> dict:
    org = _org(app)
    with org.store.transaction() as conn:
        n = org.writer(conn, org.admin_id, None).empty_recycle_bin()
    return {"purged": n}


@route("POST", "/merge")
def merge(app: "App", req: Request, body: dict) -> dict:
    with _writer(app, body) as w:
        w.merge(_object(app, body["object"]), body["master"], body["losers"])
    return {"master": body["master"], "merged": body["losers"]}


@route("POST", "/convert-lead")
def convert_lead(app: "App", req: Request, body: dict) -> dict:
    with _writer(app, body) as w:
        return w.convert_lead(
            body["lead"],
            account_id=body.get("account"),
            contact_id=body.get("contact"),
            create_opportunity=body.get("create_opportunity", True),
            opportunity_name=body.get("opportunity_name"),
        )


@route("POST", "/query")
def query(app: "App", req: Request, body: dict) -> dict:
    """SOQL as the admin without permission checks or API counting."""
    org = _org(app)
    ctx = Ctx(
        org=org,
        req=None,
        version="59.0",
        user_id=org.admin_id,
        perms=None,
        tooling=bool(body.get("tooling")),
        headers={"sforce-query-options": "batchSize=2000"},
    )
    out = run_query(ctx, body["q"], bool(body.get("all")))
    if out.get("nextRecordsUrl"):
        org.locators.drop(out["nextRecordsUrl"].rsplit("/", 1)[1].split("-")[0])
        out["done"] = True
        out.pop("nextRecordsUrl")
    return out


@route("DELETE", "/locators")
def locators_close(app: "App", req: Request, body: dict) -> dict:
    """Closes every open query locator: the next queryMore answers INVALID_QUERY_LOCATOR (an expired cursor)."""
    org = _org(app)
    n = org.locators.count()
    org.locators.close_all()
    return {"closed": n}


# -- users -----------------------------------------------------------------------------------------------------------
@route("POST", "/users")
def user_create(app: "App", req: Request, body: dict) -> dict:
    org = _org(app)
    with org.store.setup_transaction() as conn:
        uid = create_user(
            org.store,
            conn,
            org.now(),
            body["username"],
            body.get("first_name", "Sim"),
            body.get("last_name", "User"),
            body.get("password", "sfsim-user-1"),
            body.get("title"),
            body.get("profile", "Standard User"),
        )
    return {"id": uid}


def _set_active(app, user: str, active: bool) -> dict:
    org = _org(app)
    uid = _user(app, user)
    with org.store.setup_transaction() as conn:
        conn.execute(
            'UPDATE "User" SET "IsActive" = ?, "SystemModstamp" = ?, "LastModifiedDate" = ? WHERE "Id" = ?',
            (int(active), org.now(), org.now(), uid),
        )
    if not active:
        org.revoke(user_id=uid)
    return {"id": uid, "active": active}


@route("POST", "/users/<user>/deactivate")
def user_deactivate(app: "App", req: Request, body: dict, user: str) -> dict:
    return _set_active(app, user, False)


@route("POST", "/users/<user>/activate")
def user_activate(app: "App", req: Request, body: dict, user: str) -> dict:
    return _set_active(app, user, True)


# -- permissions -----------------------------------------------------------------------------------------------------
def _permission_set(conn, parent: str) -> str:
    """A permission set by Name, or the one a profile owns by the profile's Name."""
    row = (
        conn.execute(
            'SELECT "Id" FROM "PermissionSet" WHERE "Name" = ? AND "IsOwnedByProfile" = 0', (parent,)
        ).fetchone()
        or conn.execute(
            'SELECT ps."Id" FROM "PermissionSet" ps JOIN "Profile" p ON p."Id" = ps."ProfileId" '
            'WHERE ps."IsOwnedByProfile" = 1 AND p."Name" = ?',
            (parent,),
        ).fetchone()
    )
    if row is None:
        raise KeyError(f"no permission set or profile {parent}")
    return row[0]


@route("PUT", "/object-permissions")
def object_permissions(app: "App", req: Request, body: dict) -> dict:
    org = _org(app)
    with org.store.setup_transaction() as conn:
        ps = _permission_set(conn, body["parent"])
        conn.execute('DELETE FROM "ObjectPermissions" WHERE "ParentId" = ? AND "SobjectType" = ?', (ps, body["object"]))
        flags = [bool(body.get(k)) for k in ("read", "create", "edit", "delete")]
        if any(flags):
            SetupBuilder(org.store, conn, org.now()).object_perm(ps, body["object"], *flags)
    return {
        "parent": ps,
        "object": body["object"],
        "read": flags[0],
        "create": flags[1],
        "edit": flags[2],
        "delete": flags[3],
    }


@route("PUT", "/field-permissions")
def field_permissions(app: "App", req: Request, body: dict) -> dict:
    org = _org(app)
    obj, name = body["field"].split(".", 1)
    read, edit = bool(body.get("read") or body.get("edit")), bool(body.get("edit"))
    with org.store.setup_transaction() as conn:
        ps = _permission_set(conn, body["parent"])
        for target in ("Task", "Event") if obj == "Activity" else (obj,):
            conn.execute(
                'DELETE FROM "FieldPermissions" WHERE "ParentId" = ? AND "Field" = ?', (ps, f"{target}.{name}")
            )
            if read:
                SetupBuilder(org.store, conn, org.now()).field_perm(ps, target, name, read, edit)
    return {"parent": ps, "field": body["field"], "read": read, "edit": edit}


@route("POST", "/permission-set-assignments")
def assign_permission_set(app: "App", req: Request, body: dict) -> dict:
    org = _org(app)
    with org.store.setup_transaction() as conn:
        ps = _permission_set(conn, body["permission_set"])
        uid = _user(app, body.get("user"))
        rid = SetupBuilder(org.store, conn, org.now()).insert(
            "PermissionSetAssignment", {"AssigneeId": uid, "PermissionSetId": ps, "IsActive": True}
        )
    return {"id": rid}


@route("DELETE", "/permission-set-assignments")
def unassign_permission_set(app: "App", req: Request, body: dict) -> dict:
    org = _org(app)
    with org.store.setup_transaction() as conn:
        ps = _permission_set(conn, body["permission_set"])
        n = conn.execute(
            'DELETE FROM "PermissionSetAssignment" WHERE "AssigneeId" = ? AND "PermissionSetId" = ?',
            (_user(app, body.get("user")), ps),
        ).rowcount
    return {"removed": n}


# -- tokens, sessions, limits, settings ------------------------------------------------------------------------------
@route("POST", "/tokens/revoke")
def tokens_revoke(app: "App", req: Request, body: dict) -> dict:
    kind = body.get("kind", "refresh")
    user = _user(app, body["user"]) if body.get("user") else None
    n = app.org.revoke(kind=None if kind == "all" else kind, user_id=user)
    return {"revoked": n}


@route("POST", "/sessions/expire")
def sessions_expire(app: "App", req: Request, body: dict) -> dict:
    return {"revoked": app.org.revoke(kind="access")}


@route("GET", "/limits")
def limits_get(app: "App", req: Request, body: dict) -> dict:
    org = _org(app)
    return {"daily_api_requests": org.daily_limit(), "used": org.usage.used()}


@route("PUT", "/limits")
def limits_put(app: "App", req: Request, body: dict) -> dict:
    org = _org(app)
    if "daily_api_requests" in body:
        org.store.set_setting("daily_api_requests", int(body["daily_api_requests"]))
    if "used" in body:
        org.usage.set_used(int(body["used"]))
    return limits_get(app, req, body)


SETTINGS = ("daily_api_requests", "session_lifetime_seconds", "org_api_enabled", "deploy_in_progress_polls")


@route("GET", "/settings")
def settings_get(app: "App", req: Request, body: dict) -> dict:
    return {k: app.org.store.setting(k) for k in SETTINGS}


@route("PUT", "/settings")
def settings_put(app: "App", req: Request, body: dict) -> dict:
    for key, value in body.items():
        if key not in SETTINGS:
            raise KeyError(f"unknown setting {key}")
        if key == "deploy_in_progress_polls" and (type(value) is not int or value < 0):
            raise ValueError("deploy_in_progress_polls must be a whole number, 0 or more")
        app.org.store.set_setting(key, value)
    return settings_get(app, req, body)


# -- clock -----------------------------------------------------------------------------------------------------------
@route("GET", "/clock")
def clock_get(app: "App", req: Request, body: dict) -> dict:
    return app.org.clock.state()


@route("POST", "/clock")
def clock_post(app: "App", req: Request, body: dict) -> dict:
    clock = app.org.clock
    if body.get("reset"):
        clock.reset()
    if "offset_seconds" in body:
        clock.set_offset(float(body["offset_seconds"]))
    if body.get("freeze") is not None and body.get("freeze") is not False:
        clock.freeze(None if body["freeze"] is True else parse_datetime(body["freeze"]))
    if "advance_seconds" in body:
        clock.advance(float(body["advance_seconds"]))
    if body.get("unfreeze"):
        clock.unfreeze()
    return clock.state()


# -- faults ----------------------------------------------------------------------------------------------------------
@route("GET", "/faults")
def faults_get(app: "App", req: Request, body: dict) -> dict:
    return {"faults": app.org.faults.describe()}


@route("POST", "/faults")
def faults_post(app: "App", req: Request, body: dict) -> dict:
    rules = body.get("faults", [body])
    added = [app.org.faults.add(r).describe() for r in rules]
    return {"added": added, "faults": app.org.faults.describe()}


@route("DELETE", "/faults")
def faults_clear(app: "App", req: Request, body: dict) -> dict:
    app.org.faults.clear()
    return {"faults": []}


@route("DELETE", "/faults/<rule>")
def faults_delete(app: "App", req: Request, body: dict, rule: str) -> dict:
    return {"removed": app.org.faults.remove(rule)}


# -- stats -----------------------------------------------------------------------------------------------------------
@route("GET", "/stats")
def stats_get(app: "App", req: Request, body: dict) -> dict:
    org = _org(app)
    out = org.stats.snapshot()
    out.update(
        {
            "api_usage": org.usage.used(),
            "daily_api_requests": org.daily_limit(),
            "open_query_locators": org.locators.count(),
        }
    )
    return out


@route("POST", "/stats/reset")
def stats_reset(app: "App", req: Request, body: dict) -> dict:
    app.org.stats.reset()
    return stats_get(app, req, body)


# -- schema drift ----------------------------------------------------------------------------------------------------
def _grant_fls(app, conn, object_name: str, name: str, spec: dict) -> None:
    """New fields are visible to the standard profiles (Salesforce's default), not to permission sets."""
    org = _org(app)
    store = org.store
    b = SetupBuilder(store, conn, org.now())
    targets = ["Task", "Event"] if object_name == "Activity" else [object_name]
    editable = not spec.get("calculatedFormula")
    for ps_id, _profile in standard_profile_sets(conn):
        for target in targets:
            conn.execute(
                'DELETE FROM "FieldPermissions" WHERE "ParentId" = ? AND "Field" = ?', (ps_id, f"{target}.{name}")
            )
            f = store.schema.get(target).field(name)
            if f is not None and f.permissionable:  # Salesforce keeps no rows for required fields
                b.field_perm(ps_id, target, name, True, editable)


@route("POST", "/fields")
def field_add(app: "App", req: Request, body: dict) -> dict:
    org = _org(app)
    with org.store.setup_transaction() as conn:
        spec = objects.add_field(org.store, conn, org.now(), body)
        if body.get("grant_profiles", True):
            _grant_fls(app, conn, spec["object"], spec["name"], spec)
    return {"field": spec}


@route("PATCH", "/fields/<sobject>/<name>")
def field_change(app: "App", req: Request, body: dict, sobject: str, name: str) -> dict:
    org = _org(app)
    with org.store.setup_transaction() as conn:
        row = conn.execute(
            "SELECT spec FROM _sfsim_custom_fields WHERE object = ? AND name = ?", (sobject, name)
        ).fetchone()
        if row is None:
            raise KeyError(f"no custom field {sobject}.{name}")
        spec = json.loads(row[0])
        new = {**spec, **{k: body[k] for k in objects.FIELD_KEYS if k in body}}
        if new.get("type") != spec.get("type") or new.get("calculatedFormula") != spec.get("calculatedFormula"):
            # A type change rebuilds the column: its values are cleared (sfsim does not convert data).
            org.store.drop_columns(conn, sobject, name)
        org.store.save_custom_field(conn, new)
    return {"field": new}


@route("DELETE", "/fields/<sobject>/<name>")
def field_delete(app: "App", req: Request, body: dict, sobject: str, name: str) -> dict:
    org = _org(app)
    with org.store.setup_transaction() as conn:
        if (
            conn.execute("SELECT 1 FROM _sfsim_custom_fields WHERE object = ? AND name = ?", (sobject, name)).fetchone()
            is None
        ):
            raise KeyError(f"no custom field {sobject}.{name}")
        org.store.delete_custom_field(conn, sobject, name)
        targets = ["Task", "Event"] if sobject == "Activity" else [sobject]
        for t in targets:
            conn.execute('DELETE FROM "FieldPermissions" WHERE "Field" = ?', (f"{t}.{name}",))
    return {"deleted": f"{sobject}.{name}"}


# -- custom objects --------------------------------------------------------------------------------------------------
@route("GET", "/objects")
def objects_list(app: "App", req: Request, body: dict) -> dict:
    org = _org(app)
    return {"objects": objects.list_objects(org.store, org.store.conn)}


@route("POST", "/objects")
def object_create(app: "App", req: Request, body: dict) -> Response:
    org = _org(app)
    with org.store.setup_transaction() as conn:
        out = objects.create_object(org.store, conn, org.now(), body)
    return json_response({"object": out}, 201)


@route("GET", "/objects/<name>")
def object_read(app: "App", req: Request, body: dict, name: str) -> dict:
    org = _org(app)
    o = org.store.schema.get(name)
    if o is None or not o.created:
        raise KeyError(f"no custom object {name} created through the control API")
    return {"object": objects.describe_object(org.store, org.store.conn, o.name)}


@route("DELETE", "/objects/<name>")
def object_delete(app: "App", req: Request, body: dict, name: str) -> dict:
    org = _org(app)
    with org.store.setup_transaction() as conn:
        return {"deleted": objects.delete_object(org.store, conn, name)}


@route("POST", "/objects/<name>/generate")
def object_generate(app: "App", req: Request, body: dict, name: str) -> dict:
    """Fill a created custom object with generated rows, straight into its table (``seed.generate``)."""
    org = _org(app)
    o = _object(app, name)
    with org.store.transaction() as conn:
        created = seeding.generate(org.store, conn, org.now(), o.name, int(body["rows"]), str(body.get("seed", "")))
    return {"object": o.name, "created": created, "counts": {o.name: org.store.table_rows(o.name)}}


@route("POST", "/objects/<name>/fill")
def object_fill(app: "App", req: Request, body: dict, name: str) -> dict:
    """Set generated values in some stored fields of every record of an object, standard or custom (``seed.fill``):
    ``{"fields": ["Region__c", ...], "seed": "..."}``."""
    org = _org(app)
    o = _object(app, name)
    fields = body.get("fields")
    if not isinstance(fields, list) or not fields or not all(isinstance(f, str) for f in fields):
        raise ValueError("fields must be a list of field names")
    with org.store.transaction() as conn:
        filled = seeding.fill(org.store, conn, org.now(), o.name, fields, str(body.get("seed", "")))
    return {"object": o.name, "filled": filled}
