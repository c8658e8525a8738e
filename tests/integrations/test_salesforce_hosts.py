"""The trust boundary around Salesforce hosts: Rox sends a token or the client secret only to an allowed host.

An attacker's host is played by a listening socket on loopback (not on the allow-list): every test asserts that it
was never even connected to. A Salesforce that answers with hostile URLs is played by a small HTTPS server that the
test allows, with sfsim's certificate.
"""

from __future__ import annotations

import io
import json
import re
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from integrations import services
from integrations.models import SalesforceConnection
from integrations.salesforce import hosts, oauth
from integrations.salesforce.client import SalesforceClient
from integrations.salesforce.errors import AuthRevokedError
from integrations.salesforce.http import new_session
from roxcrm.models import Organization, User
from roxcrm.services import organization_create
from sfsim.certs import server_context
from tests.integrations.conftest import authorize, callback_path, connect, start_wizard, submit, token_works

ORG_ID, USER_ID = "00D000000000001AAA", "005000000000001AAA"


class Listener:
    """A TCP port that accepts connections and counts them: the attacker's host."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def attacker() -> Iterator[Listener]:
    listener = Listener()
    yield listener
    listener.close()
    # Read after the accept loop stopped, so a connection made at the very end is counted too.
    assert listener.connections == 0, "a request left for a host outside the allow-list"


class HostileSalesforce:
    """An allowed host that answers the token endpoint with whatever the test sets, and its identity URL with
    ``identity``; ``/redirect`` sends the client on to ``redirect_to``."""

    def __init__(self, sfsim: Any) -> None:
        outer = self
        self.token: dict[str, Any] = {}
        self.identity: Any = {}
        self.redirect_to = ""
        self.requests: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                outer.requests.append(f"POST {self.path}")
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/services/oauth2/revoke":
                    self._answer(200, {})
                else:
                    self._answer(200, outer.token)

            def do_GET(self) -> None:
                outer.requests.append(f"GET {self.path}")
                if self.path == "/redirect":
                    self._answer(302, {}, {"Location": outer.redirect_to})
                else:
                    self._answer(200, outer.identity)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context: ssl.SSLContext = server_context(sfsim.data_dir)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hostile(sfsim: Any, settings: Any) -> Iterator[HostileSalesforce]:
    server = HostileSalesforce(sfsim)
    settings.SALESFORCE_ALLOWED_HOSTS = [*settings.SALESFORCE_ALLOWED_HOSTS, server.url.removeprefix("https://")]
    yield server
    server.close()


def _step_one(client: Client, org: Organization, sfsim: Any, login_url: str) -> Any:
    return client.post(
        reverse("salesforce_setup_start", args=[org.slug]),
        {
            "environment": "custom",
            "login_url": login_url,
            "expected_edition": "Enterprise Edition",
            "expected_username": sfsim.username,
            "confirm_user": "on",
        },
    )


def _connect_headlessly(org: Organization, login_url: str) -> None:
    arguments = ["--org", org.slug, "--login-url", login_url, "--client-id", "x", "--client-secret", "y"]
    call_command("salesforce", "connect", *arguments)


HOSTILE_LOGIN_URLS = [
    "https://evil.example",
    "https://169.254.169.254",
    "https://login.salesforce.com@evil.example",
    "https://login.salesforce.com.evil.example",
    "https://acme.my.salesforce.com.evil.example",
    "https://evilmy.salesforce.com",
    "https://acme.my.salesforce.com:8443",
    "https://[::1]",
    "https://localhost:1",
]


@pytest.mark.parametrize("login_url", HOSTILE_LOGIN_URLS)
def test_step_one_refuses_a_login_url_that_is_not_a_salesforce_host(
    org: Organization, admin_client: Client, ready_org: Any, login_url: str
) -> None:
    response = _step_one(admin_client, org, ready_org, login_url)
    assert response.status_code == 200
    assert "is not a Salesforce login host" in response.content.decode()
    assert not SalesforceConnection.objects.filter(organization=org).exists()


def test_the_refusal_never_probes_the_host(
    org: Organization, admin_client: Client, ready_org: Any, attacker: Listener
) -> None:
    """A closed port and an open one get the same answer, and the open one is never connected to."""
    closed = Listener()
    closed.close()
    answers = [
        re.findall(r'<ul class="errorlist".*?</ul>', page.content.decode().replace(url, "URL"), re.S)
        for url, page in ((url, _step_one(admin_client, org, ready_org, url)) for url in (attacker.url, closed.url))
    ]
    assert answers[0] == answers[1]
    assert "is not a Salesforce login host" in answers[0][0]


def test_an_admin_cannot_send_a_live_connections_tokens_to_another_host(
    org: Organization, admin_client: Client, ready_org: Any, attacker: Listener
) -> None:
    """Step 1 submitted again on a Connected connection with the attacker's login URL: refused, the connection
    keeps working, and its next refresh and its Disconnect go to the host that issued its tokens."""
    connection = connect(admin_client, org, ready_org)
    submit(admin_client, org)
    response = _step_one(admin_client, org, ready_org, attacker.url)
    assert "is not a Salesforce login host" in response.content.decode()
    connection.refresh_from_db()
    assert connection.login_url == ready_org.login_url
    assert connection.status == SalesforceConnection.Status.CONNECTED
    # Even a login URL changed behind the form's back (an old row, a database edit) is not where tokens go.
    SalesforceConnection.objects.filter(pk=connection.pk).update(login_url=attacker.url)
    ready_org.control("POST", "faults", {"kind": "expire_sessions", "count": 1})
    connection.refresh_from_db()
    assert SalesforceClient(connection).query("SELECT COUNT() FROM Lead")["totalSize"] == 200
    connection.refresh_from_db()
    assert connection.token_generation >= 2
    refresh_token = connection.refresh_token
    admin_client.post(reverse("salesforce_disconnect", args=[org.slug]))
    # Salesforce itself revoked the refresh token.
    answer = requests.post(
        f"{ready_org.login_url}/services/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": ready_org.client_id,
            "client_secret": ready_org.client_secret,
        },
        verify=ready_org.ca_path,
        timeout=30,
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_changing_the_login_url_discards_and_revokes_the_tokens(
    org: Organization, admin_client: Client, ready_org: Any, settings: Any
) -> None:
    connection = connect(admin_client, org, ready_org)
    submit(admin_client, org)
    access = connection.access_token
    # Another allowed host (a sandbox's): nothing is sent to it, but the tokens from sfsim go.
    response = admin_client.post(
        reverse("salesforce_setup_start", args=[org.slug]),
        {
            "environment": "sandbox",
            "expected_edition": "Enterprise Edition",
            "expected_username": ready_org.username,
            "confirm_user": "on",
        },
        follow=True,
    )
    page = response.content.decode()
    assert "Rox revoked its sign-in to the previous one. Sign in again" in page
    connection.refresh_from_db()
    assert connection.login_url == "https://test.salesforce.com"
    assert not connection.access_token and not connection.refresh_token and not connection.token_login_url
    assert connection.sf_org_id  # the org-mismatch guard still knows the org
    assert connection.status == SalesforceConnection.Status.ACTION_REQUIRED
    assert "Sign in again to resume" in connection.action_reason
    assert not token_works(ready_org, access)
    # Back to sfsim: a new sign-in, and the connection works again.
    connect(admin_client, org, ready_org)
    connection.refresh_from_db()
    assert connection.status == SalesforceConnection.Status.CONNECTED
    assert connection.token_login_url == ready_org.login_url


def test_a_sign_in_started_before_the_login_url_changed_is_not_redeemed(
    org: Organization, admin_client: Client, ready_org: Any, hostile: HostileSalesforce
) -> None:
    """The code goes back only to the login URL the sign-in started at, even when step 1 moved it since."""
    location = authorize(
        ready_org, start_wizard(admin_client, org, ready_org), username=ready_org.username, password=ready_org.password
    )
    _step_one(admin_client, org, ready_org, hostile.url)
    response = admin_client.get(callback_path(location), follow=True)
    assert "The Salesforce login URL was changed while you were signing in" in response.content.decode()
    assert hostile.requests == []
    assert not SalesforceConnection.objects.get(organization=org).access_token


def test_anyone_who_signs_up_cannot_get_the_client_secret(
    client: Client, ready_org: Any, attacker: Listener, db: None
) -> None:
    """Sign up, create an organization, point step 1 at your own host: refused before anything is sent."""
    user = User.objects.create_user(email="mallory@evil.example", password="correct horse battery staple")
    org = organization_create(name="Evil", slug="evil", user=user)
    client.force_login(user)
    response = _step_one(client, org, ready_org, attacker.url)
    assert "is not a Salesforce login host" in response.content.decode()
    # Sign in cannot be started without an accepted step 1.
    response = client.post(reverse("salesforce_setup_sign_in", args=[org.slug]))
    assert response.status_code == 302
    assert response["Location"] == reverse("salesforce_setup_start", args=[org.slug])
    # And the OAuth layer itself refuses, whatever calls it.
    with pytest.raises(hosts.HostNotAllowedError):
        oauth.exchange_code(
            login_url=attacker.url, client_id="x", client_secret="secret", redirect_uri="x", code="x", verifier="x"
        )
    assert oauth.revoke(login_url=attacker.url, token="a-refresh-token") is False


@pytest.mark.parametrize("field", ["instance_url", "id"])
def test_a_token_answer_that_points_to_another_host_is_not_used(
    org: Organization, hostile: HostileSalesforce, attacker: Listener, field: str
) -> None:
    hostile.token = {
        "access_token": "hostile-access",
        "instance_url": hostile.url,
        "id": f"{hostile.url}/id/{ORG_ID}/{USER_ID}",
        field: f"{attacker.url}/id/{ORG_ID}/{USER_ID}" if field == "id" else attacker.url,
    }
    with pytest.raises(CommandError, match="is not a Salesforce login host"):
        _connect_headlessly(org, hostile.url)
    assert not SalesforceConnection.objects.filter(organization=org, access_token__gt="").exists()


@pytest.mark.parametrize("identity", [[], {"user_id": 5, "organization_id": ORG_ID}, {"user_id": USER_ID}, "x"])
def test_a_malformed_identity_answer_is_a_clear_error(
    org: Organization, hostile: HostileSalesforce, identity: Any
) -> None:
    hostile.token = {"access_token": "a", "instance_url": hostile.url, "id": f"{hostile.url}/id/{ORG_ID}/{USER_ID}"}
    hostile.identity = identity
    with pytest.raises(CommandError, match="could not be understood"):
        _connect_headlessly(org, hostile.url)
    assert not SalesforceConnection.objects.filter(organization=org, access_token__gt="").exists()


def test_no_salesforce_call_follows_a_redirect_to_another_host(hostile: HostileSalesforce, attacker: Listener) -> None:
    hostile.redirect_to = f"{attacker.url}/services/oauth2/userinfo?access_token=secret"
    with pytest.raises(hosts.HostNotAllowedError) as refused:
        new_session().get(f"{hostile.url}/redirect", headers={"Authorization": "Bearer secret"})
    # The error names where the request would have gone, never its path or query (which may carry a token).
    assert f"“{attacker.url}”" in str(refused.value) and "secret" not in str(refused.value)
    assert hostile.requests == ["GET /redirect"]
    with pytest.raises(hosts.HostNotAllowedError):
        new_session().get(attacker.url)


def test_a_refresh_from_a_host_that_is_no_longer_allowed_needs_a_new_sign_in(
    org: Organization, admin_client: Client, ready_org: Any, settings: Any
) -> None:
    connection = connect(admin_client, org, ready_org)
    submit(admin_client, org)
    ready_org.control("POST", "faults", {"kind": "expire_sessions", "count": 1})
    # The operator takes sfsim's login host off the list (its instance host stays).
    settings.SALESFORCE_ALLOWED_HOSTS = [ready_org.instance_url.removeprefix("https://")]
    with pytest.raises(AuthRevokedError):
        SalesforceClient(SalesforceConnection.objects.get(pk=connection.pk)).query("SELECT Id FROM Account LIMIT 1")
    connection.refresh_from_db()
    assert connection.status == SalesforceConnection.Status.ACTION_REQUIRED


def test_debug_pages_never_show_the_tokens(
    org: Organization, admin_user: User, ready_org: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With DEBUG on, a crash inside the OAuth callback, after the tokens arrived, shows none of them."""
    settings.DEBUG = True
    client = Client(raise_request_exception=False)
    client.force_login(admin_user)
    issued: list[oauth.TokenResponse] = []
    real_exchange = oauth.exchange_code

    def exchange(**kwargs: Any) -> oauth.TokenResponse:
        issued.append(real_exchange(**kwargs))
        return issued[-1]

    def crash(*args: Any) -> None:
        raise RuntimeError("an unexpected failure after the sign-in")

    monkeypatch.setattr(oauth, "exchange_code", exchange)
    monkeypatch.setattr(services, "_refuse_unconfirmed_org", crash)
    location = authorize(
        ready_org, start_wizard(client, org, ready_org), username=ready_org.username, password=ready_org.password
    )
    verifier = client.session["salesforce_oauth"]["verifier"]
    response = client.get(callback_path(location))
    page = response.content.decode()
    assert response.status_code == 500 and "an unexpected failure after the sign-in" in page
    tokens = issued[0]
    for secret in (tokens.access_token, tokens.refresh_token, verifier, settings.SALESFORCE_CLIENT_SECRET):
        assert secret and secret not in page


def test_hosts_on_the_allow_list(settings: Any) -> None:
    settings.SALESFORCE_ALLOWED_HOSTS = ["sfsim.test:8443", "*.example.mil"]
    allowed = [
        "https://login.salesforce.com",
        "https://test.salesforce.com/services/oauth2/token",
        "https://acme.my.salesforce.com",
        "https://acme--uat.sandbox.my.salesforce.com",
        "https://acme-dev-ed.develop.my.salesforce.com:443/id/x",
        "https://acme.my.site.com",
        "https://LOGIN.SALESFORCE.COM",
        "https://sfsim.test:8443",
        "https://a.b.example.mil",
    ]
    refused = [
        "http://login.salesforce.com",
        "https://my.salesforce.com",
        "https://sfsim.test",
        "https://sfsim.test:9443",
        "https://example.mil",
        "https://user:pass@login.salesforce.com",
        "https://login.salesforce.com\\@evil.example",
        "https://login.salesforce.com%2F@evil.example",
        "https://login.salesforce.com\t.evil.example",
        "https://login.salesforce.com:notaport",
        "ftp://login.salesforce.com",
        "//login.salesforce.com",
        "https://[::1",
        "",
    ]
    assert [url for url in allowed if not hosts.host_allowed(url)] == []
    assert [url for url in refused if hosts.host_allowed(url)] == []


def test_a_malformed_allowed_hosts_entry_fails_the_system_check(settings: Any) -> None:
    settings.SALESFORCE_ALLOWED_HOSTS = ["acme.my.salesforce.mil", "https://evil.example/", "x:99999"]
    errors = hosts.check_allowed_hosts(None)
    assert [error.id for error in errors] == ["integrations.E001", "integrations.E001"]
    assert "https://evil.example/" in errors[0].msg


def test_the_django_admin_cannot_point_a_connection_elsewhere(
    org: Organization, admin_client: Client, ready_org: Any, admin_user: User
) -> None:
    """Staff see where a connection's tokens go, but only the wizard (with its checks) changes it."""
    connection = connect(admin_client, org, ready_org)
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    page = admin_client.get(reverse("admin:integrations_salesforceconnection_change", args=[connection.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert ready_org.login_url in html
    for field in ("login_url", "token_login_url", "instance_url", "environment"):
        assert f'name="{field}"' not in html


def test_connecting_again_at_another_login_host_revokes_the_old_tokens_there(org: Organization, ready_org: Any) -> None:
    """Headless connect at sfsim's login host, then at its other name: the first tokens are revoked (at the host
    that issued them), not left valid beside the new ones."""
    _connect_headlessly_as(org, ready_org, ready_org.login_url)
    first = SalesforceConnection.objects.get(organization=org)
    _connect_headlessly_as(org, ready_org, ready_org.instance_url)
    second = SalesforceConnection.objects.get(organization=org)
    assert second.token_login_url == ready_org.instance_url != first.token_login_url
    assert not token_works(ready_org, first.access_token)
    assert token_works(ready_org, second.access_token)


def _connect_headlessly_as(org: Organization, sfsim: Any, login_url: str) -> None:
    arguments = ["--org", org.slug, "--login-url", login_url, "--client-id", sfsim.client_id]
    call_command("salesforce", "connect", *arguments, "--client-secret", sfsim.client_secret, stdout=io.StringIO())


def test_a_long_api_call_to_an_allowed_host_goes_through(org: Organization, ready_org: Any) -> None:
    """Found by the writeback benchmark: a look-up of 200 e-mail addresses is a long URL, and only where a URL
    points is judged, not how long it is."""
    from integrations.salesforce.client import SalesforceClient

    _connect_headlessly_as(org, ready_org, ready_org.login_url)
    connection = SalesforceConnection.objects.get(organization=org)
    addresses = ", ".join(f"'someone.{n}@a-rather-long-domain.example.org'" for n in range(200))
    query = f"SELECT Id FROM Contact WHERE Email IN ({addresses})"
    assert len(query) > 8000
    assert SalesforceClient(connection).query(query)["totalSize"] == 0
