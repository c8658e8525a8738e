"""Every URL pattern of the project, walked with hostile input: no answer may be a server error.

The walk reads the URL resolver itself (the pages, the JSON API, the Django admin, allauth), so a new view is
walked without being listed here. Each path parameter is filled with hostile values (not a UUID, huge and negative
integers, NUL, ``../``, unicode, very long text, a real code of another organization's object) and with real values
of the organization; each URL is also asked with hostile query strings and POST bodies naming every parameter the
views read and every field their forms show; the API also gets JSON bodies and ``If-Match`` headers. It goes as an
anonymous visitor, a member and an admin of the organization (a superuser too, so the Django admin is walked
behind its sign-in), with GET and POST (and PATCH on the API). Every request runs in a transaction that is rolled
back, so a destructive POST (remove a member, delete a field) cannot change what the next request sees.

The walk is bounded (a fixed set of values, not random fuzzing): parameters are walked where a view reads them
(a role refused before the view gets one hostile request; an include()'s parameter is walked on its first pages).
Run it alone with ``.venv/bin/python -m pytest tests/roxcrm/test_hostile_urls.py``; on PostgreSQL (which refuses
NUL in strings where SQLite stores it) with ``DATABASE_URL=postgres://...`` in front.
"""

from __future__ import annotations

import html
import json
import re
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, path, resolve, reverse
from django.urls.exceptions import Resolver404
from django.utils.regex_helper import normalize

from api.endpoints import api as ninja_api
from api.models import ApiToken
from mappings import services as mapping_services
from mappings.models import Tab
from roxcrm.models import Account, CustomField, Organization, User
from roxcrm.services import invitation_create
from tests.api.conftest import make_token
from tests.factories import (
    make_account,
    make_activity,
    make_contact,
    make_custom_field,
    make_lead,
    make_opportunity,
    make_product,
)

# Path parameter values no real link carries. A converter that cannot match one (a UUID converter and "../")
# sends it to a 404 before any view, so each is used only where the resolver hands it to the view.
HOSTILE_PATH = [
    "\x00",
    "99999999999999999999",
    "1" * 5000,
    "not-a-uuid",
    "0",
    "-1",
    "..",
    "../../etc/passwd",
    "ü💥\u202e",
    "00000000-0000-0000-0000-000000000000",
    "//evil.example",
]

# Query string and form values: each request gives this one value to every parameter and form field.
HOSTILE_QUERY = [
    "\x00",
    "not-a-uuid",
    "-1",
    "99999999999999999999",
    "1" * 5000,
    "//evil.example",
    "ü💥\u202e",
    "NaN",
    "",
]
# Only JSON can carry an unpaired surrogate (as the escape "\ud800"); UTF-8 URLs and forms cannot.
HOSTILE_JSON = ["\x00", "\ud800", "-1", "99999999999999999999", "1" * 5000, 1e308, -(2**70), [], {}, None]

# The GET and POST parameters views read (grep request.GET / request.POST) and allauth's own; form fields are
# added per page from what the page shows.
PARAMETERS = [
    "q",
    "page",
    "next",
    "account",
    "contact",
    "opportunity",
    "lead",
    "object_type",
    "updated_since",
    "include_removed",
    "cursor",
    "limit",
    "owner",
    "type",
    "entry",
    "batch",
    "error",
    "code",
    "action",
    "choice",
    "tab",
    "target",
    "sf_field",
    "state",
    "error_description",
    "version",
    "key",
    "process",
]

EVIL_HOST = "evil.example"
ROLES = ("anonymous", "member", "admin")
JSON = "application/json"
PREFIX_SAMPLE = 3  # pages under an include() on which the include's own parameter is walked
OTHER_PROBES = 1  # real values tried as a baseline beyond those of the kinds a parameter's name suggests
REFUSED_SAMPLE = 2  # path values sent to a role refused before the view (to the decorators that read the path)
FORM_FIELD = re.compile(r'<(?:input|select|textarea)[^>]*\sname="([^"]+)"')
LINK_QUERY = re.compile(r'href="[^"#]*\?([^"#]*)')


@dataclass
class Endpoint:
    route: str  # as ResolverMatch.route names it, e.g. "o/<slug:org_slug>/accounts/<uuid:code>/"
    callback: Any
    template: str  # "/o/%(org_slug)s/accounts/%(code)s/"
    params: list[str]
    groups: dict[str, str]  # parameter name -> its regex
    prefixes: dict[str, str]  # parameter captured by an include() -> that include's route ("o/<slug:org_slug>/")
    baseline: dict[str, str] = field(default_factory=dict)

    @property
    def is_api(self) -> bool:
        return self.route.startswith("api/")

    @property
    def is_admin(self) -> bool:
        return self.route.startswith("admin/")

    def path(self, values: dict[str, str]) -> str:
        return self.template % values

    def url(self, values: dict[str, str]) -> str:
        return self.template % {name: quote(value, safe="") for name, value in values.items()}

    def accepts(self, name: str, value: str) -> bool:
        """Whether ``value`` matches parameter ``name``'s own pattern (the converter's, or the regex group's)."""
        return re.fullmatch(self.groups[name], value) is not None

    def fits(self, values: dict[str, str]) -> bool:
        """Whether the resolver sends these values to this endpoint's view (not to a 404 or another view)."""
        try:
            match = resolve(self.path(values))
        except (Resolver404, UnicodeError):
            return False
        return match.route == self.route and match.func == self.callback


def _join_route(first: str, second: str) -> str:
    # As django.urls.resolvers does for ResolverMatch.route.
    return second if not first else first + second.removeprefix("^")


def named_groups(regex: str) -> dict[str, str]:
    """``(?P<name>...)`` groups of a regex with what each matches, nested parentheses included."""
    groups = {}
    for start in re.finditer(r"\(\?P<(\w+)>", regex):
        depth, position = 1, start.end()
        while depth:
            char = regex[position]
            if char == "\\":
                position += 1
            elif char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
            position += 1
        groups[start.group(1)] = regex[start.end() : position - 1]
    return groups


def walk_patterns(
    patterns: list[Any], route: str = "", regex: str = "", prefixes: dict[str, str] | None = None
) -> Iterator[Endpoint]:
    for entry in patterns:
        entry_route = _join_route(route, str(entry.pattern))
        entry_regex = regex + entry.pattern.regex.pattern.removeprefix("^")
        if isinstance(entry, URLResolver):
            captured = dict.fromkeys(named_groups(entry.pattern.regex.pattern), entry_route)
            yield from walk_patterns(entry.url_patterns, entry_route, entry_regex, {**(prefixes or {}), **captured})
        elif isinstance(entry, URLPattern):
            # normalize() is what reverse() uses: a format string with %(name)s for each parameter.
            template, params = normalize("^" + entry_regex)[0]
            groups = named_groups(entry_regex)
            yield Endpoint(entry_route, entry.callback, "/" + template, params, groups, dict(prefixes or {}))


def all_endpoints() -> list[Endpoint]:
    endpoints: dict[str, Endpoint] = {}
    for endpoint in walk_patterns(get_resolver().url_patterns):
        # django-ninja adds one pattern per operation name on a path; the first answers every method.
        endpoints.setdefault(endpoint.route, endpoint)
    return list(endpoints.values())


@dataclass
class World:
    real_values: dict[str, list[str]]  # this organization's things by kind: slug, id, label, token, code
    counterparts: dict[str, str]  # one of them -> the same kind of thing in the other organization
    clients: dict[str, Client]
    headers: dict[str, dict[str, str]]
    custom_field_names: list[str]


def _things(organization: Organization, owner: User) -> tuple[list[str], list[str]]:
    """One of everything in ``organization``: some of its ids (integers), then its invitation's token and every
    code, in the same order for any organization so that the two organizations' lists pair up."""
    account = make_account(organization, name="Initech", website="https://initech.example")
    contact = make_contact(organization, account=account, email="peter@initech.example")
    activity = make_activity(organization, account=account, contact=contact)
    records = [
        account,
        contact,
        make_opportunity(organization, account=account),
        make_lead(organization, email="marie@radium.example"),
        make_product(organization),
        activity,
        make_custom_field(organization, label="Tier", data_type="picklist", options=["Gold", "Silver"]),
        make_custom_field(organization, label="Seats", data_type="number"),
        make_custom_field(organization, label="Notes", created_by=owner, visibility="private"),
        invitation_create(
            organization=organization, email=f"new@{organization.slug}.example", role="member", invited_by=owner
        ),
        make_token(organization, owner, name="Walk")[0],
        *mapping_services.mappings_ensure_defaults(organization=organization),
    ]
    invitation = records[9]
    ids = [str(owner.pk), str(account.pk), str(contact.pk), str(activity.pk)]
    return ids, [invitation.token, *(str(record.code) for record in records)]


@pytest.fixture
def world(org: Organization, other_org: Organization, admin_user: User, member_user: User, outsider: User) -> World:
    """Two organizations with one of everything, and a client (with an API token) for each role."""
    admin_user.is_staff = admin_user.is_superuser = True  # the Django admin is walked behind its sign-in too
    admin_user.save(update_fields=["is_staff", "is_superuser"])
    our_ids, our_codes = _things(org, admin_user)
    their_ids, their_codes = _things(other_org, outsider)
    real_values = {
        "slug": [org.slug],
        "id": [*our_ids, str(member_user.pk), str(ContentType.objects.get_for_model(Account).pk)],
        "label": [*Tab.values, *(config.label for config in apps.get_app_configs())],
        "token": our_codes[:1],
        "code": our_codes[1:],
    }
    counterparts = dict(zip([org.slug, *our_ids, *our_codes], [other_org.slug, *their_ids, *their_codes], strict=True))

    clients = {role: Client(raise_request_exception=False) for role in ("anonymous", "member", "admin")}
    clients["member"].force_login(member_user)
    clients["admin"].force_login(admin_user)
    _, read_secret = make_token(org, member_user, name="Member's reader", scope=ApiToken.Scope.READ)
    _, write_secret = make_token(org, admin_user, name="Admin's tool")
    headers = {
        "anonymous": {},
        "member": {"Authorization": f"Bearer {read_secret}"},
        "admin": {"Authorization": f"Bearer {write_secret}"},
    }
    custom_names = [f.api_name for f in CustomField.objects.filter(organization=org)]
    return World(real_values, counterparts, clients, headers, custom_names)


@dataclass
class Problem:
    route: str
    role: str
    method: str
    url: str
    status: int
    reason: str


class Walker:
    def __init__(self, world: World) -> None:
        self.world = world
        self.problems: list[Problem] = []
        self.requests = 0
        self.openapi = ninja_api.get_openapi_schema()
        self.sign_in_urls = (resolve_url(settings.LOGIN_URL), reverse("admin:login"))
        self.prefix_walks: dict[tuple[str, str], int] = {}

    def send(
        self,
        endpoint: Endpoint,
        role: str,
        method: str,
        url: str,
        *,
        data: Any = None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        client = self.world.clients[role]
        # A sign-out or sign-in answered in the walk must not change who the next request comes from.
        cookies = {name: morsel.value for name, morsel in client.cookies.items()}
        kwargs: dict[str, Any] = {"headers": {**self.world.headers[role], **(headers or {})}}
        if data is not None:
            kwargs["data"] = data
        if content_type:
            kwargs["content_type"] = content_type
        self.requests += 1
        with transaction.atomic():
            response = getattr(client, method.lower())(url, **kwargs)
            transaction.set_rollback(True)
        client.cookies = SimpleCookie()
        for name, value in cookies.items():
            client.cookies[name] = value
        self.judge(endpoint, role, method, url, response)
        return response

    def judge(self, endpoint: Endpoint, role: str, method: str, url: str, response: Any) -> None:
        shown = url if len(url) < 160 else url[:160] + "…"
        if response.status_code >= 500:
            exc_info = getattr(response, "exc_info", None)
            reason = "".join(traceback.format_exception_only(exc_info[1])).strip()[:200] if exc_info else ""
            if exc_info:
                where = traceback.extract_tb(exc_info[2])[-1]
                reason += f" ({where.filename.split('site-packages/')[-1]}:{where.lineno})"
            self.problems.append(Problem(endpoint.route, role, method, shown, response.status_code, reason))
        location = response.get("Location", "")
        if location.startswith(("//", "http://", "https://")) and EVIL_HOST in location.split("?")[0]:
            self.problems.append(
                Problem(endpoint.route, role, method, shown, response.status_code, f"redirects to {location}")
            )

    # -----------------------------------------------------------------------------------------------------------

    def fitting(self, endpoint: Endpoint, name: str, values: list[str]) -> list[str]:
        return [value for value in values if endpoint.fits({**endpoint.baseline, name: value})]

    def hinted(self, name: str) -> list[str]:
        """The kinds of value the parameter's name suggests: ``org_slug`` a slug, ``user_id`` an id, ``code`` a
        code, ``tab`` a tab name."""
        return [kind for kind in self.world.real_values if kind in name or (kind, name) == ("label", "tab")]

    def real_values(self, name: str) -> list[str]:
        """This organization's values, those of the hinted kinds first."""
        hinted = self.hinted(name)
        kinds = [*hinted, *(kind for kind in self.world.real_values if kind not in hinted)]
        return [value for kind in kinds for value in self.world.real_values[kind]]

    def choose_baseline(self, endpoint: Endpoint) -> None:
        """A real value for each parameter, preferring one that opens a page for the admin (else one that is
        not a 404): the hostile query strings are sent there, where the view has something to work on."""
        for name in endpoint.params:
            accepted = [v for v in [*self.real_values(name), *HOSTILE_PATH] if endpoint.accepts(name, v)]
            assert accepted, f"no value matches {endpoint.route} in {name}"
            endpoint.baseline[name] = accepted[0]
        for name in endpoint.params:
            real = self.fitting(endpoint, name, self.real_values(name))
            fallback = self.fitting(endpoint, name, HOSTILE_PATH)
            assert real or fallback, f"no value reaches {endpoint.route} in {name}"
            chosen, found = (real or fallback)[0], False
            probes = sum(len(self.world.real_values[kind]) for kind in self.hinted(name)) + OTHER_PROBES
            for value in real[:probes]:
                status = self.send(
                    endpoint, "admin", "GET", endpoint.url({**endpoint.baseline, name: value})
                ).status_code
                if status == 200 or (status != 404 and not found):
                    chosen, found = value, True
                if status == 200:
                    break
            endpoint.baseline[name] = chosen

    def page_parameters(self, endpoint: Endpoint) -> list[str]:
        """The names the admin's page itself sends back: its form fields and the query parameters of its links
        (the Django admin's list filters are links)."""
        response = self.send(endpoint, "admin", "GET", endpoint.url(endpoint.baseline))
        if not response.get("Content-Type", "").startswith("text/html"):
            return []
        page = html.unescape(response.content.decode(errors="replace"))
        names = FORM_FIELD.findall(page) + [name for query in LINK_QUERY.findall(page) for name in parse_qs(query)]
        # Not a formset's management form: Django caps a huge TOTAL_FORMS at 2,000 forms and validates every one,
        # which takes a Django admin page with inlines tens of seconds and tells nothing more.
        return [name for name in dict.fromkeys(names) if not name.endswith("_FORMS")]

    def api_operations(self, endpoint: Endpoint) -> tuple[list[str], list[str], list[str]]:
        """The methods, query parameters and body fields the OpenAPI description gives for this path."""
        path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", endpoint.route)
        operations = self.openapi["paths"].get(path, {})
        query = [p["name"] for op in operations.values() for p in op.get("parameters", []) if p["in"] == "query"]
        body: list[str] = []
        for op in operations.values():
            ref = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            schema = self.openapi["components"]["schemas"].get(ref.get("$ref", "").rsplit("/", 1)[-1], {})
            body += list(schema.get("properties", {}))
        methods = [method.upper() for method in operations]
        return methods, list(dict.fromkeys(query)), list(dict.fromkeys(body))

    def passes(self, response: Any) -> bool:
        """Whether a plain request got past sign-in, permissions and the method check to the view itself."""
        if response.status_code in (401, 403, 404, 405):
            return False
        return not (response.status_code == 302 and response["Location"].startswith(self.sign_in_urls))

    def walk(self, endpoint: Endpoint) -> None:
        self.choose_baseline(endpoint)
        base = endpoint.url(endpoint.baseline)
        methods = ["GET", "POST", *(["PATCH"] if endpoint.is_api else [])]
        plain = {(role, m): self.send(endpoint, role, m, base) for role in ROLES for m in methods}
        reached = {key: self.passes(response) for key, response in plain.items()}
        roles = self.distinct_roles(plain, reached, methods)
        # A view that answers a plain POST as it answers a GET does not read a body: one hostile body is enough.
        reads_body = {
            role: reached[(role, "POST")] and not _same(plain[(role, "GET")], plain[(role, "POST")]) for role in roles
        }
        for name in endpoint.params:
            prefix = endpoint.prefixes.get(name)
            if prefix is not None:
                # An include()'s parameter (the organization's slug) is read by the same decorator on every page
                # under it: walked on the first few.
                self.prefix_walks[(prefix, name)] = self.prefix_walks.get((prefix, name), 0) + 1
                if self.prefix_walks[(prefix, name)] > PREFIX_SAMPLE:
                    continue
            ours = endpoint.baseline[name]
            theirs = self.world.counterparts.get(ours)
            values = self.fitting(endpoint, name, [*([theirs] if theirs else []), *HOSTILE_PATH])
            for role in roles:
                # Decorators read the path (the organization's slug) before they refuse a request, so a refused
                # role still gets a few; the admin's views look an object up the same way for GET and POST.
                for value in values if reached[(role, "GET")] else values[:REFUSED_SAMPLE]:
                    url = endpoint.url({**endpoint.baseline, name: value})
                    self.send(endpoint, role, "GET", url)
                    if reads_body[role] and not endpoint.is_admin:
                        self.send(endpoint, role, "POST", url)
        if endpoint.is_api:
            self.walk_api(endpoint, base, reached, roles)
            return
        own = self.page_parameters(endpoint)
        names = list(dict.fromkeys([*PARAMETERS, *own]))
        for role in roles:
            # Where the plain request is refused before the view, one hostile request checks the refusal holds.
            for value in HOSTILE_QUERY if reached[(role, "GET")] else HOSTILE_QUERY[:1]:
                response = self.send(endpoint, role, "GET", f"{base}?{urlencode(dict.fromkeys(names, value))}")
                if response.status_code != plain[(role, "GET")].status_code and own:
                    # Refused for a parameter it does not know (the Django admin's lists do that), the page read
                    # none of the others: ask again with only its own.
                    self.send(endpoint, role, "GET", f"{base}?{urlencode(dict.fromkeys(own, value))}")
            for value in HOSTILE_QUERY if reads_body[role] else HOSTILE_QUERY[:1]:
                query = urlencode(dict.fromkeys(names, value))
                self.send(endpoint, role, "POST", f"{base}?{query}", data=dict.fromkeys(names, value))

    def distinct_roles(
        self, plain: dict[tuple[str, str], Any], reached: dict[tuple[str, str], bool], methods: list[str]
    ) -> list[str]:
        """The roles worth walking: every one that reaches the view, and one of those refused alike (the anonymous
        visitor and a member both sent to the Django admin's sign-in meet the same code)."""
        roles, refusals = [], set()
        for role in ROLES:
            if any(reached[(role, m)] for m in methods):
                roles.append(role)
                continue
            refusal = tuple(
                (plain[(role, m)].status_code, plain[(role, m)].get("Location", "").split("?")[0]) for m in methods
            )
            if refusal not in refusals:
                refusals.add(refusal)
                roles.append(role)
        return roles

    def walk_api(self, endpoint: Endpoint, base: str, reached: dict[tuple[str, str], bool], roles: list[str]) -> None:
        methods, query_names, body_names = self.api_operations(endpoint)
        for role in roles:
            self.send(endpoint, role, "POST", base, data="{", content_type="application/json")
            for value in HOSTILE_QUERY if reached[(role, "GET")] else HOSTILE_QUERY[:1]:
                if query_names:
                    self.send(endpoint, role, "GET", f"{base}?{urlencode(dict.fromkeys(query_names, value))}")
            if "PATCH" in methods:
                for value in HOSTILE_QUERY if reached[(role, "PATCH")] else HOSTILE_QUERY[:1]:
                    if value.isascii() and "\x00" not in value:  # what an HTTP header can carry
                        headers = {"If-Match": value}
                        self.send(endpoint, role, "PATCH", base, data="{}", content_type=JSON, headers=headers)
            for method in [m for m in ("POST", "PATCH") if m in methods]:
                for value in HOSTILE_JSON if reached[(role, method)] else HOSTILE_JSON[:1]:
                    body: dict[str, Any] = dict.fromkeys(body_names, value)
                    body["custom_fields"] = dict.fromkeys([*self.world.custom_field_names, "\ud800"], value)
                    self.send(endpoint, role, method, base, data=json.dumps(body), content_type=JSON)


CSRF_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')


def _same(first: Any, second: Any) -> bool:
    """Two answers alike but for their CSRF tokens, which differ on every page that has a form."""
    if first.status_code != second.status_code or first.get("Location") != second.get("Location"):
        return False
    return CSRF_TOKEN.sub("", first.content.decode(errors="replace")) == CSRF_TOKEN.sub(
        "", second.content.decode(errors="replace")
    )


AREAS = {
    "pages": lambda route: not route.startswith(("admin/", "api/", "auth/")),
    "api": lambda route: route.startswith("api/"),
    "auth": lambda route: route.startswith("auth/"),
    "admin": lambda route: route.startswith("admin/"),
}


@pytest.mark.parametrize("area", AREAS)
# django-q2's schedule form warns about the naive date and time a hostile POST gives it, and refuses it.
@pytest.mark.filterwarnings("ignore:DateTimeField .* received a naive datetime:RuntimeWarning")
def test_every_url_answers_hostile_input_without_a_server_error(world: World, area: str) -> None:
    endpoints = [endpoint for endpoint in all_endpoints() if AREAS[area](endpoint.route)]
    assert len(endpoints) >= 10
    walker = Walker(world)
    for endpoint in endpoints:
        walker.walk(endpoint)
    # One line per endpoint and fault, with an example: the same fault usually fails many requests.
    seen: dict[tuple[str, str], tuple[int, Problem]] = {}
    for problem in walker.problems:
        key = (problem.route, problem.reason.split(":")[0] + problem.reason.rsplit("(", 1)[-1])
        count, first = seen.get(key, (0, problem))
        seen[key] = (count + 1, first)
    report = "\n".join(
        f"{count:4d} x {p.status} {p.route}: {p.reason}\n       e.g. {p.role} {p.method} {p.url}"
        for count, p in seen.values()
    )
    assert not walker.problems, f"{len(walker.problems)} of {walker.requests} requests failed:\n{report}"


def _fragile(request: HttpRequest, number: int) -> HttpResponse:
    # Reads a query parameter without checking it, as record_create read ?account= before it was fixed.
    return HttpResponse(str(number + int(request.GET.get("page", "1"))))


urlpatterns = [path("fragile/<int:number>/", _fragile)]


def test_the_walk_reports_a_server_error(world: World, settings: Any) -> None:
    """The walk itself can fail: on a URLconf with one view that breaks on a non-numeric ?page=, it names it."""
    walker = Walker(world)
    settings.ROOT_URLCONF = __name__
    for endpoint in all_endpoints():
        walker.walk(endpoint)
    assert walker.problems
    assert {(p.route, p.status) for p in walker.problems} == {("fragile/<int:number>/", 500)}
    assert "ValueError" in walker.problems[0].reason


def test_the_walk_covers_every_url_pattern() -> None:
    """Each area's filter together takes every pattern exactly once, so no URL escapes the walk."""
    for endpoint in all_endpoints():
        assert sum(accepts(endpoint.route) for accepts in AREAS.values()) == 1, endpoint.route
