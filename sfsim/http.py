"""Routing, request context and response helpers shared by the OAuth, REST, Bulk and control handlers."""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from werkzeug.wrappers import Request, Response

from .errors import SFError

JSON_TYPE = "application/json;charset=UTF-8"


def dumps(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(obj, status: int = 200, headers: dict | None = None) -> Response:
    return Response(dumps(obj), status=status, headers=headers, content_type=JSON_TYPE)


def error_response(err: SFError) -> Response:
    return json_response(err.body(), err.status)


@dataclass
class Ctx:
    """One API request: who calls, with what permissions, at which API version."""

    org: object
    req: Request | None
    version: str
    user_id: str
    perms: object
    tooling: bool = False
    params: dict = field(default_factory=dict)
    internal: bool = False  # a composite subrequest: neither counted nor faulted on its own
    body: object = None
    method: str = "GET"
    query: dict = field(default_factory=dict)
    headers: dict = field(default_factory=dict)

    def json(self) -> object:
        if self.body is None:
            return None
        if isinstance(self.body, (bytes, str)):
            if not self.body:
                return None
            try:
                return json.loads(self.body)
            except ValueError as e:
                raise SFError(
                    "JSON_PARSER_ERROR",
                    f"Unexpected character: was expecting a value at [line:1, column:{getattr(e, 'colno', 1)}]",
                ) from None
        return self.body

    @property
    def base(self) -> str:
        return f"/services/data/v{self.version}"


@dataclass
class Route:
    methods: frozenset
    pattern: re.Pattern
    handler: Callable
    category: str


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, methods: str, path: str, category: str) -> Callable[[Callable], Callable]:
        regex = "^" + re.sub(r"<(\w+)>", r"(?P<\1>[^/]+)", path) + "$"

        def wrap(fn: Callable) -> Callable:
            self.routes.append(Route(frozenset(methods.split()), re.compile(regex), fn, category))
            # Literal segments win over placeholders: sobjects/X/describe before sobjects/X/{id}.
            self.routes.sort(key=lambda r: r.pattern.pattern.count("(?P<"))
            return fn

        return wrap

    def match(self, method: str, path: str) -> tuple[Route | None, dict, bool]:
        """(route, params, path_matched_other_method)."""
        path = path.strip("/")
        other = False
        for route in self.routes:
            m = route.pattern.match(path)
            if m is None:
                continue
            if method in route.methods:
                return route, m.groupdict(), False
            other = True
        return None, {}, other


API = Router()


@dataclass
class Result:
    """A handler's answer, kept as data so composite can embed it; the server turns it into a Response."""

    status: int = 200
    body: object = None  # JSON-able, or bytes/iterator with ``content_type``
    headers: dict = field(default_factory=dict)
    content_type: str = JSON_TYPE
    length: int | None = None


def to_response(result: Result) -> Response:
    if result.body is None:
        resp = Response(status=result.status, headers=result.headers)
        if result.status != 204:
            resp.content_type = result.content_type
        return resp
    if result.content_type == JSON_TYPE and not isinstance(result.body, (bytes, str)):
        data = dumps(result.body)
    else:
        data = result.body
    resp = Response(
        data,
        status=result.status,
        headers=result.headers,
        content_type=result.content_type,
        direct_passthrough=not isinstance(data, (bytes, str)),
    )
    if result.length is not None:
        resp.headers["Content-Length"] = str(result.length)
    return resp
