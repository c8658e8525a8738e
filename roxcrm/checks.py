"""System checks of our own settings, run by `manage.py check` (and with --deploy for production)."""

from collections.abc import Iterable
from typing import Any

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def check_field_encryption_key(app_configs: Iterable[Any] | None, **kwargs: Any) -> list[Error]:
    keys = settings.FIELD_ENCRYPTION_KEYS
    if not keys:
        return [
            Error(
                "FIELD_ENCRYPTION_KEY is not set: Salesforce tokens cannot be stored encrypted.",
                hint='Generate one with: python -c "from cryptography.fernet import Fernet; '
                'print(Fernet.generate_key().decode())"',
                id="roxcrm.E001",
            )
        ]
    errors = []
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            errors.append(
                Error(
                    f"FIELD_ENCRYPTION_KEY entry {position} is not a valid key (32 url-safe base64-encoded bytes).",
                    id="roxcrm.E002",
                )
            )
    return errors
