"""The ``requests`` session used for every call to Salesforce: the host allow-list, trusted CAs, timeouts,
connection pooling."""

from __future__ import annotations

import hashlib
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import certifi
import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

from integrations.salesforce.hosts import require_allowed

CONNECT_TIMEOUT = 10
READ_TIMEOUT = 120


class _GuardedAdapter(HTTPAdapter):
    """Every request, redirects included, goes only to an allowed Salesforce host (checked on the URL about to be
    sent, after any library has built it, so no caller can forget) and gets a timeout, even those simple-salesforce
    makes without one."""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        require_allowed(request.url or "", what="The address")
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = (CONNECT_TIMEOUT, READ_TIMEOUT)
        return super().send(request, **kwargs)


@cache
def ca_bundle() -> str | bool:
    """The CA file for Salesforce calls: the public CAs plus ``SALESFORCE_CA_BUNDLE`` when set (sfsim's CA in
    development and tests). Only Salesforce calls use it; nothing process-wide such as ``REQUESTS_CA_BUNDLE``."""
    extra = settings.SALESFORCE_CA_BUNDLE
    if not extra:
        return certifi.where()
    content = Path(certifi.where()).read_bytes() + b"\n" + Path(extra).read_bytes()
    digest = hashlib.sha256(content).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"roxcrm-salesforce-ca-{digest}.pem"
    if not path.exists():
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(content)
        temporary.replace(path)
    return str(path)


class _SalesforceSession(requests.Session):
    """Proxies still come from the environment, but never the CA bundle: ``REQUESTS_CA_BUNDLE`` would otherwise
    replace ours for every request that, like simple-salesforce's, passes no ``verify`` of its own."""

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> dict:
        merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None or verify is True:
            merged["verify"] = self.verify
        return merged


def new_session() -> requests.Session:
    session = _SalesforceSession()
    session.verify = ca_bundle()
    adapter = _GuardedAdapter(pool_connections=4, pool_maxsize=8)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = "RoxCRM-Salesforce/1.0"
    return session
