"""Error reports that hide secrets even with DEBUG on."""

from __future__ import annotations

from django.http import HttpRequest
from django.views.debug import SafeExceptionReporterFilter


class AlwaysSafeExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django's filter cleanses ``sensitive_variables`` and ``sensitive_post_parameters`` only when DEBUG is off.
    A developer's DEBUG page (or a staging server left in DEBUG) is shown to whoever hits the error, so the
    Salesforce tokens and secrets those markers guard stay hidden there too; settings are cleansed as always."""

    def is_active(self, request: HttpRequest | None) -> bool:
        return True
