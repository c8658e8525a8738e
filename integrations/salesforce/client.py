"""The one way the product talks to a connected Salesforce org.

``SalesforceClient`` wraps simple-salesforce for a ``SalesforceConnection``: it turns every failure into a typed
error (``errors.py``), refreshes an expired access token once per expiry across all workers, keeps the org's API
usage from the ``Sforce-Limit-Info`` header, and refuses to spend more than Rox's share of the daily limit.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TextIO, TypeVar
from urllib.parse import quote

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from simple_salesforce import Salesforce
from simple_salesforce.bulk2 import ColumnDelimiter, LineEnding, Operation
from simple_salesforce.exceptions import (
    SalesforceError as SimpleSalesforceError,
)
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceOperationError,
)

from integrations.models import SalesforceConnection
from integrations.salesforce import hosts, oauth
from integrations.salesforce.errors import (
    AuthRevokedError,
    BudgetExhaustedError,
    ConfigurationError,
    PermanentError,
    SalesforceError,
    SessionExpiredError,
    TransientError,
    error_for,
)
from integrations.salesforce.http import new_session

log = logging.getLogger(__name__)

AUTH_REFUSED_REASON = (
    "Salesforce no longer accepts Rox's sign-in (the access was revoked, the integration user was deactivated, or "
    "the connected app changed). Reconnect to resume; nothing waiting is lost."
)
T = TypeVar("T")
BULK_FIRST_POLL = 0.25  # seconds before a Bulk API job's status is first read, and the shortest wait after
BULK_MAX_POLL = 15.0  # the longest wait between two reads of a running job's status
BULK_JOB_TIMEOUT = 24 * 3600  # as long as Salesforce lets a job run


class SalesforceClient:
    """API calls for one connection; make one per task or request.

    The thread that made it may hand calls to helper threads (to overlap network waits with database work): their
    counting is locked, and a helper thread never refreshes the access token (that writes the connection row from
    a thread with no database connection of its own): an expired session there raises ``SessionExpiredError`` and
    the owning thread repeats the call."""

    def __init__(self, connection: SalesforceConnection, *, enforce_budget: bool = True) -> None:
        if not connection.access_token or not connection.instance_url:
            raise ConfigurationError("Salesforce is not connected: sign in to Salesforce first.")
        hosts.require_allowed(connection.instance_url, what="The instance URL")
        self.connection = connection
        self.enforce_budget = enforce_budget
        self.calls = 0
        self.api_seconds = 0.0  # time spent waiting for Salesforce's answers (the rest of a run is the engine's)
        self._owner = threading.get_ident()
        self._lock = threading.Lock()
        self._session = new_session()
        self._sf = self._build()
        self._usage_reread = False

    @property
    def api_version(self) -> str:
        return settings.SALESFORCE_API_VERSION

    @property
    def base_path(self) -> str:
        return f"/services/data/v{self.api_version}"

    # -- calls ---------------------------------------------------------------------------------------------------

    def query(self, soql: str, *, include_deleted: bool = False) -> dict[str, Any]:
        """One page of a SOQL query (``query`` or ``queryAll``): ``totalSize``, ``done``, ``records``,
        ``nextRecordsUrl``."""
        return self._call(lambda sf: sf.query(soql, include_deleted=include_deleted))

    def query_more(self, next_records_url: str) -> dict[str, Any]:
        return self._call(lambda sf: sf.query_more(next_records_url, identifier_is_url=True))

    def query_all(self, soql: str, *, include_deleted: bool = False) -> Iterator[dict[str, Any]]:
        """Every record of a query, page by page (one API call per page)."""
        page = self.query(soql, include_deleted=include_deleted)
        while True:
            yield from page["records"]
            if page.get("done", True):
                return
            page = self.query_more(page["nextRecordsUrl"])

    def bulk_query(
        self,
        sobject: str,
        soql: str,
        *,
        page_size: int = 100_000,
        expected: int | None = None,
        retry: Callable[[Callable[[], Any]], Any] | None = None,
    ) -> Iterator[TextIO]:
        """A Bulk API 2.0 ``queryAll`` job's result pages, each streamed to a temporary file and handed over open for
        reading (CSV text; the file goes when the next page is asked for), so that memory does not grow with the
        page size. One API call per page, plus creating the job and polling it (``expected``, the rows a first
        page or a ``COUNT()`` reported, paces the polls). Job failures raise ``PermanentError``. ``retry`` wraps
        the calls that can be repeated safely (reading the job's status, downloading a page) to retry transient
        failures; creating the job is not repeated (a lost answer would leave a second job running)."""
        retry = retry or (lambda call: call())
        handler = self._call(lambda sf: getattr(sf.bulk2, sobject))
        self._pace_polls(handler, expected=expected)
        api = handler._client
        with tempfile.TemporaryDirectory(prefix="rox-bulk-") as folder:
            job = self._bulk_call(
                lambda: api.create_job(Operation.query_all, soql, ColumnDelimiter.COMMA, LineEnding.LF)
            )
            # (each poll counts as it is made)
            retry(lambda: self._bulk_call(lambda: api.wait_for_job(job["id"], True), calls=0))
            locator = ""
            while True:
                page = retry(
                    lambda locator=locator: self._bulk_call(
                        lambda: api.download_job_data(folder, job["id"], locator, page_size, 1 << 16)
                    )
                )
                with open(page["file"], encoding="utf-8", newline="") as text:
                    yield text
                os.unlink(page["file"])
                locator = page["locator"]
                if not locator:
                    return

    def _bulk_call(self, call: Callable[[], T], *, calls: int = 1) -> T:
        """One Bulk API request through simple-salesforce, its errors typed as the rest of the client's."""
        started = time.perf_counter()
        try:
            self._count(calls)
            return call()
        except SalesforceOperationError as exc:
            raise PermanentError(f"The Bulk API job failed: {exc}", code="BULK_JOB_FAILED") from None
        except SimpleSalesforceError as exc:
            raise _typed(exc) from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientError(f"Could not reach Salesforce: {exc.__class__.__name__}") from None
        finally:
            self._waited(started)
            self._record_usage()

    def collections(self, method: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """sObject Collections (``POST`` create, ``PATCH`` update), at most 200 records, ``allOrNone`` false: one
        result per record, in order (``success``, ``id``, ``errors``)."""
        return self.request(method, "composite/sobjects/", json={"allOrNone": False, "records": records})

    def bulk_ingest(self, sobject: str, operation: str, records: list[dict[str, Any]]) -> list[dict[str, str]]:
        """A Bulk API 2.0 ingest job (``update`` or ``insert``); returns the failed rows (``sf__Id``,
        ``sf__Error`` and the columns sent), read back from the job."""
        handler = self._call(lambda sf: getattr(sf.bulk2, sobject))
        self._pace_polls(handler, expected=len(records))
        rows = [{k: "" if v is None else str(v) for k, v in record.items()} for record in records]

        def run() -> list[dict[str, str]]:
            failed: list[dict[str, str]] = []
            for job in getattr(handler, operation)(records=rows):
                self._count(4)  # create, upload, close and the last status read (polls count as they happen)
                if int(job.get("numberRecordsFailed") or 0):
                    text = handler.get_failed_records(job["job_id"])
                    failed.extend(csv.DictReader(io.StringIO(text)))
            return failed

        return self._bulk_call(run, calls=0)

    def _pace_polls(self, handler: Any, *, expected: int | None = None) -> None:
        """Poll a Bulk API job's status sparingly: simple-salesforce polls every fraction of a second (each poll is
        an API call), so its waiting is replaced on this handler. The first look is after a quarter of a second (a
        small job is done by then); after that the wait is the time the job still needs at the rate it has shown
        (``numberRecordsProcessed`` of the ``expected`` records), or twice the last wait while it shows none,
        within 0.25 to 15 seconds."""
        api = handler._client

        def wait_for_job(job_id: str, is_query: bool, wait: float = 0.0) -> str:
            started = time.monotonic()
            delay = BULK_FIRST_POLL
            while True:
                time.sleep(delay)
                self._count()
                info = api.get_job(job_id, is_query)
                state = info["state"]
                if state == "JobComplete":
                    return state
                if state in ("Aborted", "Failed"):
                    raise SalesforceOperationError(f"Job failure. Response content: {info.get('errorMessage') or info}")
                elapsed = time.monotonic() - started
                if elapsed > BULK_JOB_TIMEOUT:
                    raise SalesforceOperationError(f"Job timeout. Job status: {state}")
                done = int(info.get("numberRecordsProcessed") or 0)
                delay = (expected - done) * elapsed / done if expected and done else delay * 2
                delay = min(max(delay, BULK_FIRST_POLL), BULK_MAX_POLL)

        api.wait_for_job = wait_for_job

    def tooling_query(self, soql: str) -> dict[str, Any]:
        return self.request("GET", f"tooling/query/?q={quote(soql)}")

    def describe(self, sobject: str) -> dict[str, Any]:
        return self.request("GET", f"sobjects/{sobject}/describe/")

    def describe_global(self) -> dict[str, Any]:
        return self.request("GET", "sobjects/")

    def limits(self) -> dict[str, Any]:
        return self.request("GET", "limits/")

    def composite(self, subrequests: list[dict[str, Any]], *, all_or_none: bool = False) -> list[dict[str, Any]]:
        """One Composite call (at most 25 subrequests, at most 5 of them queries); returns each subrequest's
        ``{"body", "httpStatusCode", "referenceId"}`` in order. Subrequest failures are in their bodies."""
        body = {"allOrNone": all_or_none, "compositeRequest": subrequests}
        return self.request("POST", "composite/", json=body)["compositeResponse"]

    def subrequest(self, reference: str, path: str, method: str = "GET", body: Any = None) -> dict[str, Any]:
        """A Composite subrequest for ``path`` relative to the versioned REST root (``query/?q=...``)."""
        request: dict[str, Any] = {"method": method, "url": f"{self.base_path}/{path}", "referenceId": reference}
        if body is not None:
            request["body"] = body
        return request

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Any REST resource relative to ``/services/data/vNN.0/``; the parsed JSON body (None when empty)."""
        return self._call(lambda sf: sf.restful(path, method=method, **kwargs))

    # -- machinery -----------------------------------------------------------------------------------------------

    def _build(self) -> Salesforce:
        return Salesforce(
            instance_url=self.connection.instance_url,
            session_id=self.connection.access_token,
            session=self._session,
            version=self.api_version,
            object_pairs_hook=dict,
        )

    def _call(self, operation: Callable[[Salesforce], T]) -> T:
        self._check_budget()
        # A refused token is replaced at most twice: the first replacement may be the token another worker fetched
        # meanwhile, which can have expired too; the second is then a refresh of our own.
        refreshes = 0
        while True:
            try:
                self._count()
                started = time.perf_counter()
                try:
                    result = operation(self._sf)
                finally:
                    self._waited(started)
                self._record_usage()
                return result
            except SalesforceExpiredSession:
                self._record_usage()
                if threading.get_ident() != self._owner:
                    raise SessionExpiredError(
                        "The access token expired; the call is repeated after a refresh.", code="INVALID_SESSION_ID"
                    ) from None
                if refreshes == 2:
                    raise AuthRevokedError(
                        "Salesforce keeps refusing fresh access tokens for this connection.", code="INVALID_SESSION_ID"
                    ) from None
                self.connection = refresh_access_token(self.connection)
                self._sf = self._build()
                refreshes += 1
            except SimpleSalesforceError as exc:
                self._record_usage()
                raise _typed(exc) from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise TransientError(f"Could not reach Salesforce: {exc.__class__.__name__}") from None

    def _count(self, calls: int = 1) -> None:
        with self._lock:
            self.calls += calls

    def _waited(self, since: float) -> None:
        with self._lock:
            self.api_seconds += time.perf_counter() - since

    def _record_usage(self) -> None:
        usage = (self._sf.api_usage or {}).get("api-usage")
        if usage is None:
            return
        with self._lock:
            self.connection.api_used, self.connection.api_max = usage.used, usage.total
            self.connection.api_usage_at = timezone.now()

    def _over_budget(self) -> bool:
        budget, used = self.connection.api_budget, self.connection.api_used
        return budget is not None and used is not None and used >= budget

    def _check_budget(self) -> None:
        if not self.enforce_budget or not self._over_budget():
            return
        if not self._usage_reread:
            # The figure is the last answer's: the limit may have been raised, or the 24-hour window moved on, since;
            # and a paused connection makes no calls to learn it. Ask Salesforce once before pausing.
            self._usage_reread = True
            self._reread_usage()
            if not self._over_budget():
                return
        raise BudgetExhaustedError(
            f"Rox has used its share of the org's daily API requests ({self.connection.api_used or 0:,} of "
            f"{self.connection.api_max or 0:,}, share {self.connection.api_share_percent}%). Work resumes as the "
            "24-hour window frees requests.",
            code="ROX_API_BUDGET",
        )

    def _reread_usage(self) -> None:
        """The org's daily API usage from ``/limits`` (one call), into the connection's figure."""
        try:
            self._count()
            daily = self._sf.restful("limits/").get("DailyApiRequests") or {}
        except (SimpleSalesforceError, requests.RequestException, SalesforceError, ValueError, AttributeError):
            return  # the figure stays; the pause decides on it
        if isinstance(daily.get("Max"), int) and isinstance(daily.get("Remaining"), int):
            with self._lock:
                self.connection.api_max = daily["Max"]
                self.connection.api_used = daily["Max"] - daily["Remaining"]
                self.connection.api_usage_at = timezone.now()

    def save_usage(self) -> None:
        """Persist the latest API usage seen (call once at the end of a run, not per call)."""
        if self.connection.api_usage_at:
            SalesforceConnection.objects.filter(pk=self.connection.pk).update(
                api_used=self.connection.api_used,
                api_max=self.connection.api_max,
                api_usage_at=self.connection.api_usage_at,
            )


def _typed(exc: SimpleSalesforceError) -> SalesforceError:
    content = exc.content
    first = content[0] if isinstance(content, list) and content and isinstance(content[0], dict) else {}
    code = first.get("errorCode") or first.get("error") or ""
    message = first.get("message") or first.get("error_description") or str(content)[:500]
    return error_for(exc.status, code, message, first.get("fields"))


def refresh_access_token(connection: SalesforceConnection) -> SalesforceConnection:
    """Get a new access token, once per expiry however many workers ask at the same moment.

    The connection row is locked while refreshing; a caller whose refused token is no longer the current one takes
    the token another worker fetched since. ``invalid_grant`` puts the connection in Action Required and raises
    ``AuthRevokedError``; nothing queued is lost, it waits for a reconnect.
    """
    seen, refused = connection.token_generation, connection.access_token
    revoked: AuthRevokedError | None = None
    with transaction.atomic():
        current = SalesforceConnection.objects.select_for_update().get(pk=connection.pk)
        # Another worker refreshed since this caller read the connection. Its token is the answer, unless that is
        # the very token just refused (it expired too, after that refresh): then it is refreshed again.
        if current.token_generation != seen and current.access_token != refused:
            return current
        try:
            tokens = _new_tokens(current)
        except AuthRevokedError as exc:
            # Saved, not rolled back: the raise happens after this transaction commits.
            revoked = exc
            current.status = SalesforceConnection.Status.ACTION_REQUIRED
            current.auth_refused = True
            current.action_reason = AUTH_REFUSED_REASON
            current.save(update_fields=["status", "auth_refused", "action_reason"])
        else:
            current.access_token = tokens.access_token
            if tokens.refresh_token:
                current.refresh_token = tokens.refresh_token
            if tokens.instance_url:
                current.instance_url = tokens.instance_url
            current.token_issued_at = tokens.issued_at
            current.token_generation += 1
            current.save(
                update_fields=["access_token", "refresh_token", "instance_url", "token_issued_at", "token_generation"]
            )
    if revoked is not None:
        log.warning("Salesforce refused to refresh the token of %s: %s", current, revoked.code)
        raise revoked
    log.info("Refreshed the Salesforce access token of %s", current)
    return current


@sensitive_variables()
def _new_tokens(connection: SalesforceConnection) -> oauth.TokenResponse:
    """New tokens from the host that issued the current ones; a host outside the allow-list (an old connection,
    or an operator who removed it from SALESFORCE_ALLOWED_HOSTS) gets nothing and needs a new sign-in."""
    if not connection.token_login_url or not hosts.host_allowed(connection.token_login_url):
        raise AuthRevokedError(
            f"Rox will not send its Salesforce sign-in to {connection.token_login_url or 'an unknown host'}: "
            "it is not an allowed Salesforce login host.",
            code="HOST_NOT_ALLOWED",
        )
    try:
        if connection.grant == SalesforceConnection.Grant.CLIENT_CREDENTIALS:
            return oauth.client_credentials(
                login_url=connection.token_login_url,
                client_id=connection.client_id,
                client_secret=connection.client_secret,
            )
        return oauth.refresh(
            login_url=connection.token_login_url,
            client_id=connection.client_id or settings.SALESFORCE_CLIENT_ID,
            client_secret=settings.SALESFORCE_CLIENT_SECRET,
            refresh_token=connection.refresh_token,
        )
    except oauth.OAuthError as exc:
        raise ConfigurationError(exc.message, code=exc.error) from None
