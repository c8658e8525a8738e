"""The trust boundary around Salesforce: the only hosts Rox ever sends a token or the client secret to.

Built in are the hosts Salesforce itself documents for sign-in, tokens and API calls; an operator adds others
(a test host, a simulator, a government or China cloud) with ``SALESFORCE_ALLOWED_HOSTS``. Every URL is judged the
same way, before any connection is made, so a refused host is never probed: https only, no user name or password
in it, a plain DNS name (or an IP address only when the operator lists it), and port 443 unless an operator's entry
names another port.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error

from integrations.salesforce.errors import ConfigurationError

# login.salesforce.com and test.salesforce.com; every My Domain form ends in .my.salesforce.com (production
# acme.my.salesforce.com, sandboxes acme--uat.sandbox.my.salesforce.com, Developer Edition
# acme-dev-ed.develop.my.salesforce.com, scratch, demo and patch orgs); Experience Cloud sites, where an org's
# users may also sign in, end in .my.site.com.
BUILT_IN_HOSTS = (
    "login.salesforce.com",
    "test.salesforce.com",
    "*.my.salesforce.com",
    "*.my.site.com",
)

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOSTNAME = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
# Anything a URL parser might read differently from the one that sends the request.
_UNSAFE = re.compile(r"[\s\\\x00-\x1f\x7f]")

NOT_ALLOWED = (
    "is not a Salesforce login host. Rox only signs in at login.salesforce.com, test.salesforce.com or a My "
    "Domain (https://YOUR-DOMAIN.my.salesforce.com, or .sandbox.my.salesforce.com for a sandbox); the operator of "
    "this Rox server can allow another host with SALESFORCE_ALLOWED_HOSTS."
)


class HostNotAllowedError(ConfigurationError):
    """A URL outside the allow-list: nothing was sent to it."""

    def __init__(self, url: str, *, what: str = "") -> None:
        label = f"{what} {_shown(url)}" if what else _shown(url)
        super().__init__(f"{label} {NOT_ALLOWED}", code="HOST_NOT_ALLOWED")


def _shown(url: str) -> str:
    """Where the URL points, as it can safely be repeated to a person and a log: its scheme, host and port only
    (never a path or query, which may carry a token), without control characters, not too long."""
    text = _UNSAFE.sub("", url)
    try:
        parts = urlsplit(text)
        scheme, host, port = parts.scheme, parts.hostname, parts.port
    except ValueError:
        scheme, host, port = "", None, None
    if scheme and host:
        text = f"{scheme}://{host}" + (f":{port}" if port else "")
    return f"“{text[:120]}”"


def parse_entry(raw: str) -> tuple[str, int]:
    """``host``, ``*.domain`` or either with ``:port`` → (host pattern, port); ValueError for anything else."""
    entry = raw.strip().lower().rstrip(".")
    host, _, port = entry.partition(":")
    name = host[2:] if host.startswith("*.") else host
    if not _HOSTNAME.match(name) or (port and not (port.isdigit() and 0 < int(port) < 65536)):
        raise ValueError(f"“{raw}” is not a host name, a *.domain or either with a :port")
    return host, int(port) if port else 443


def _entries() -> list[tuple[str, int]]:
    """(host pattern, port) of each allowed entry; a malformed operator entry allows nothing (the system check
    names it)."""
    entries = []
    for raw in (*BUILT_IN_HOSTS, *settings.SALESFORCE_ALLOWED_HOSTS):
        try:
            entries.append(parse_entry(raw))
        except ValueError:
            continue
    return entries


def _matches(host: str, port: int, pattern: str, allowed_port: int) -> bool:
    if port != allowed_port:
        return False
    if pattern.startswith("*."):
        suffix = pattern[1:]
        return host.endswith(suffix) and len(host) > len(suffix)
    return host == pattern


def host_allowed(url: str) -> bool:
    """Whether Rox may send a Salesforce token or secret to ``url``."""
    try:
        origin(url)
    except HostNotAllowedError:
        return False
    return True


def origin(url: str) -> str:
    """``https://host[:port]`` of an allowed URL; ``HostNotAllowedError`` for any other. Makes no connection."""
    if not isinstance(url, str):
        raise HostNotAllowedError(str(url))
    try:
        parts = urlsplit(url)
        port = parts.port or 443
    except ValueError:
        raise HostNotAllowedError(url) from None
    # Judged on where it points (the path and query of an API call, a long SOQL query say, do not matter here).
    if _UNSAFE.search(f"{parts.scheme}://{parts.netloc}") or len(parts.netloc) > 300:
        raise HostNotAllowedError(url)
    host = (parts.hostname or "").rstrip(".")
    if parts.scheme.lower() != "https" or parts.username is not None or parts.password is not None:
        raise HostNotAllowedError(url)
    if not host or not _HOSTNAME.match(host) or "@" in parts.netloc:
        raise HostNotAllowedError(url)
    if not any(_matches(host, port, pattern, allowed) for pattern, allowed in _entries()):
        raise HostNotAllowedError(url)
    return f"https://{host}" if port == 443 else f"https://{host}:{port}"


def require_allowed(url: str, *, what: str = "") -> str:
    """``url`` itself when its host is allowed, else ``HostNotAllowedError`` naming ``what`` it was."""
    try:
        origin(url)
    except HostNotAllowedError:
        raise HostNotAllowedError(url, what=what) from None
    return url


def login_origin(url: str) -> str:
    """A login URL as Rox stores it: the origin only (``https://acme.my.salesforce.com``). A path, query or fragment
    is refused rather than dropped, since the admin may have pasted the wrong address."""
    allowed = origin(url)
    parts = urlsplit(url)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"Give only the address, like {allowed}, without a path or anything after it.")
    return allowed


def check_allowed_hosts(app_configs: Any, **kwargs: Any) -> list[Error]:
    """``manage.py check``: every SALESFORCE_ALLOWED_HOSTS entry must parse."""
    errors = []
    for raw in settings.SALESFORCE_ALLOWED_HOSTS:
        try:
            parse_entry(raw)
        except ValueError as exc:
            errors.append(
                Error(
                    f"SALESFORCE_ALLOWED_HOSTS: {exc}.",
                    hint="e.g. acme.my.salesforce.mil or sfsim.test:8443",
                    id="integrations.E001",
                )
            )
    return errors
