"""The HTTPS server: one threaded Werkzeug server answering both the login host and the instance host.

API requests go through: authentication → faults → API access checks → daily limit → handler, and every answer
but ``/services/data/`` carries ``Sforce-Limit-Info``."""

import os
import re
import threading
import time
import traceback
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from werkzeug.wrappers import Request, Response

from . import bulk, composite, control, defaults, deploy, rest, soql  # noqa: F401  (modules register their routes)
from .certs import server_context
from .errors import SFError, invalid_session
from .http import API, Ctx, Result, dumps, error_response, json_response, to_response
from .oauth import OAuth
from .org import Org
from .wsgi import DROP, Server

API_PATH = re.compile(r"^/services/data/v(\d+\.\d)(/.*)?$")


class DroppedConnection(Exception):
    """Raised after a 'drop' fault closed the socket: nothing more is written."""


class App:
    def __init__(self, org: Org, urls: dict, control_enabled: bool):
        self.org = org
        self.urls = urls
        self.oauth = OAuth(org, urls)
        self.control_enabled = control_enabled

    def __call__(self, environ, start_response):
        req = Request(environ)
        try:
            # Another process (the CLI's `scenario` or `seed`) may have changed the set-up since the last request.
            self.org.sync()
            resp = self.route(req)
        except DroppedConnection:
            return []
        except Exception:
            # Salesforce's answer to an internal error; without an answer the client would wait on the connection.
            traceback.print_exc()
            resp = error_response(SFError("UNKNOWN_EXCEPTION", "An unexpected error occurred.", 500))
        return resp(environ, start_response)

    def route(self, req: Request) -> Response:
        path = req.path
        if path.startswith("/services/data"):
            return self.api(req)
        if path.startswith("/services/oauth2/"):
            name = path.rstrip("/").rsplit("/", 1)[-1]
            if name == "authorize" and req.method in ("GET", "POST"):
                return self.oauth.authorize(req)
            if name == "token" and req.method == "POST":
                return self.oauth.token(req)
            if name == "userinfo":
                return self.oauth.userinfo(req)
            if name == "revoke":
                return self.oauth.revoke(req)
            return Response("Not Found", 404)
        m = re.match(r"^/id/([^/]+)/([^/]+)/?$", path)
        if m:
            return self.oauth.identity(req, m.group(1), m.group(2))
        if path.startswith("/_sfsim"):
            return control.handle(self, req)
        if path in ("/", ""):
            return Response(
                f"<!doctype html><title>sfsim</title><h1>sfsim</h1><p>A simulated Salesforce org. "
                f"<a href='{self.urls['login']}/services/oauth2/authorize?response_type=code&client_id="
                f"{urllib.parse.quote(defaults.CLIENT_ID)}&redirect_uri="
                f"{urllib.parse.quote(self.urls['login'] + '/')}'>Log in</a></p>",
                content_type="text/html; charset=utf-8",
            )
        return json_response([{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}], 404)

    # -- the REST API ----------------------------------------------------------------------------------------------
    def api(self, req: Request) -> Response:
        m = API_PATH.match(req.path.rstrip("/") if req.path != "/services/data/" else req.path)
        if req.path.rstrip("/") == "/services/data":
            return json_response(
                [{"label": label, "url": f"/services/data/v{v}", "version": v} for label, v in defaults.API_VERSIONS]
            )
        if m is None:
            return json_response([{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}], 404)
        version, rest_path = m.group(1), (m.group(2) or "").strip("/")
        route, params, other = API.match(req.method, rest_path)
        org = self.org
        auth = req.headers.get("Authorization", "")
        token_value = auth.split(" ", 1)[1].strip() if " " in auth else ""
        category = route.category if route else "other"
        fired = org.faults.pick(category, lambda: _objects_of(params, req)) if route else []
        for rule in fired:
            if rule.kind == "expire_sessions":
                org.stats.fault(rule.kind)
                org.revoke(kind="access")
        tok = org.session_user(token_value)
        if tok is None:
            return error_response(invalid_session())
        if not {"api", "full"} & set(tok.scope.split()):
            return error_response(
                SFError("INVALID_SESSION_ID", "This session is not valid for use with the REST API", 401)
            )
        perms = org.perms(tok.user_id)
        if perms is None or not perms.active:
            return error_response(invalid_session())
        if not org.api_enabled_for_org():
            return error_response(
                SFError("API_DISABLED_FOR_ORG", "API is not enabled for this Organization or Partner", 403)
            )
        if not perms.api_enabled:
            return error_response(SFError("API_CURRENTLY_DISABLED", "API is disabled for this User", 403))
        limit = org.daily_limit()
        injected = self._faults(req, fired)
        if injected is not None:
            injected.headers["Sforce-Limit-Info"] = f"api-usage={org.usage.used()}/{limit}"
            return injected
        allowed, used = org.usage.try_count(limit)
        header = f"api-usage={used}/{limit}"
        if not allowed:
            resp = error_response(SFError("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", 403))
            resp.headers["Sforce-Limit-Info"] = header
            return resp
        org.stats.count(category, True)
        if route is None:
            if other:
                err = SFError("METHOD_NOT_ALLOWED", f"HTTP Method '{req.method}' not allowed. Allowed are GET", 405)
            else:
                err = SFError("NOT_FOUND", "The requested resource does not exist", 404)
            resp = error_response(err)
        else:
            ctx = Ctx(
                org=org,
                req=req,
                version=version,
                user_id=tok.user_id,
                perms=perms,
                tooling=rest_path.startswith("tooling"),
                params=params,
                body=req.get_data(),
                method=req.method,
                query=dict(req.args.items()),
                headers={k.lower(): v for k, v in req.headers.items()},
            )
            resp = to_response(call(route.handler, ctx))
        resp.headers["Sforce-Limit-Info"] = header
        return resp

    def _faults(self, req: Request, fired: list) -> Response | None:
        for rule in fired:
            if rule.kind == "expire_sessions":
                continue
            self.org.stats.fault(rule.kind)
            if rule.kind == "latency":
                time.sleep(rule.latency_ms / 1000)
            elif rule.kind == "unavailable":
                return Response(
                    dumps(
                        [
                            {
                                "errorCode": "SERVER_UNAVAILABLE",
                                "message": "Server is temporarily unavailable, please try again later",
                            }
                        ]
                    ),
                    503,
                    content_type="application/json;charset=UTF-8",
                )
            elif rule.kind == "lock":
                return error_response(
                    SFError("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records")
                )
            elif rule.kind == "limit":
                return error_response(SFError("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", 403))
            elif rule.kind == "drop":
                req.environ[DROP]()
                raise DroppedConnection
        return None


def _objects_of(params: dict, req: Request) -> set[str]:
    """The objects a request touches, for faults limited to objects (URL object, or the query's FROM)."""
    if "sobject" in params:
        return {params["sobject"].lower()}
    q = req.args.get("q")
    if q:
        try:
            tree = soql.parse(q)
        except SFError:
            return set()
        return {str(c.children[0]).lower() for c in tree.children if getattr(c, "data", None) == "object_name"}
    return set()


def call(handler: Callable[[Ctx], Result], ctx: Ctx) -> Result:
    try:
        return handler(ctx)
    except SFError as e:
        return Result(e.status, e.body())


def dispatch_internal(ctx: Ctx, method: str, url: str, body: object) -> Result:
    """Runs a composite subrequest through the same handlers, without counting it as an API call."""
    parts = urllib.parse.urlsplit(url)
    m = API_PATH.match(parts.path.rstrip("/"))
    if m is None:
        return Result(404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])
    rest_path = (m.group(2) or "").strip("/")
    route, params, _ = API.match(method, rest_path)
    if route is None or route.category in ("composite", "bulk", "metadata"):
        return Result(404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])
    sub = Ctx(
        org=ctx.org,
        req=ctx.req,
        version=m.group(1),
        user_id=ctx.user_id,
        perms=ctx.perms,
        tooling=rest_path.startswith("tooling"),
        params=params,
        internal=True,
        body=body,
        method=method,
        query={k: v[0] for k, v in urllib.parse.parse_qs(parts.query, keep_blank_values=True).items()},
        headers=ctx.headers,
    )
    ctx.org.stats.count(route.category, False)
    return call(route.handler, sub)


def _exit_with_parent() -> None:
    """A test run killed outright (SIGKILL) cannot stop its server: the server notices it was orphaned."""
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def serve(
    data_dir: Path,
    host: str,
    port: int,
    control_enabled: bool,
    ready: Callable[[Org, dict], None] | None = None,
    scenario: str | None = None,
) -> None:
    org = Org(data_dir, scenario=scenario)
    urls = {
        "login": f"https://{defaults.LOGIN_HOSTNAME}:{port}",
        "instance": f"https://{defaults.INSTANCE_HOSTNAME}:{port}",
    }
    app = App(org, urls, control_enabled)
    server = Server(host, port, app, server_context(data_dir))
    stop = threading.Event()
    threading.Thread(target=org.janitor, args=(stop,), daemon=True).start()
    if os.environ.get("SFSIM_EXIT_WITH_PARENT") == "1":
        threading.Thread(target=_exit_with_parent, daemon=True).start()
    if ready is not None:
        ready(org, urls)
    try:
        server.serve_forever()
    finally:
        stop.set()
        org.close()
