"""Typed Salesforce errors. Callers decide by type: retry (transient), show and stop (permanent), or pause the
connection and tell the admin (configuration)."""

from __future__ import annotations


class SalesforceError(Exception):
    """Anything that went wrong talking to Salesforce. ``code`` is Salesforce's errorCode when there is one."""

    def __init__(self, message: str, *, code: str = "", fields: list[str] | None = None, status: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.fields = fields or []
        self.status = status

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.code else self.message


class TransientError(SalesforceError):
    """Worth retrying later: timeouts, dropped connections, 5xx, UNABLE_TO_LOCK_ROW."""


class SessionExpiredError(TransientError):
    """The access token expired during a call made off the client's own thread, which never refreshes it (a refresh
    writes the connection row): the caller repeats the call on the client's thread, which does."""


class PermanentError(SalesforceError):
    """Retrying the same request will fail the same way: validation rules, bad values, no access to a record."""


class ConfigurationError(SalesforceError):
    """The connection itself needs attention; work pauses until it is fixed or the condition passes."""


class AuthRevokedError(ConfigurationError):
    """Salesforce refused our refresh token (revoked, user deactivated, connected app changed): reconnect."""


class ApiDisabledError(ConfigurationError):
    """The org or the user has no API access (edition without the API, or the API Enabled permission is off)."""


class BudgetExhaustedError(ConfigurationError):
    """The org's daily API limit, or Rox's configured share of it, is used up; work resumes when it returns."""


class OAuthError(Exception):
    """The OAuth flow failed (denied consent, bad state, token endpoint error); ``message`` is for people."""

    def __init__(self, message: str, *, error: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.error = error


TRANSIENT_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG", "QUERY_TIMEOUT"})
API_DISABLED_CODES = frozenset({"API_DISABLED_FOR_ORG", "API_CURRENTLY_DISABLED"})
LIMIT_CODES = frozenset({"REQUEST_LIMIT_EXCEEDED", "TXN_SECURITY_METERING_ERROR"})


def error_for(status: int, code: str, message: str, fields: list[str] | None = None) -> SalesforceError:
    """The typed error for a Salesforce error response (HTTP status and errorCode/statusCode)."""
    if code in LIMIT_CODES:
        return BudgetExhaustedError(message, code=code, fields=fields, status=status)
    if code in API_DISABLED_CODES:
        return ApiDisabledError(message, code=code, fields=fields, status=status)
    if code in TRANSIENT_CODES or status >= 500 or status in (408, 429):
        return TransientError(message, code=code, fields=fields, status=status)
    return PermanentError(message, code=code, fields=fields, status=status)
