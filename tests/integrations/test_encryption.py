"""Secrets at rest: encrypted, and the key can be rotated without losing them."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection as db

from integrations.models import SalesforceConnection
from roxcrm.models import Organization


def stored_token(pk: int) -> str:
    with db.cursor() as cursor:
        cursor.execute("SELECT access_token FROM integrations_salesforceconnection WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_rotating_the_key_keeps_every_secret(org: Organization, settings: Any) -> None:
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    connection = SalesforceConnection.objects.create(
        organization=org, login_url="https://login.salesforce.com", access_token="00D!secret-token"
    )
    assert Fernet(old_key.encode()).decrypt(stored_token(connection.pk).encode()) == b"00D!secret-token"
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    out = StringIO()
    call_command("rotate_encryption_key", stdout=out)
    assert "Re-encrypted the secrets of 1 row(s)" in out.getvalue()
    assert Fernet(new_key.encode()).decrypt(stored_token(connection.pk).encode()) == b"00D!secret-token"
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key can go
    assert SalesforceConnection.objects.get(pk=connection.pk).access_token == "00D!secret-token"


def test_a_secret_no_key_can_read_is_a_clear_error(org: Organization, settings: Any) -> None:
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    connection = SalesforceConnection.objects.create(organization=org, login_url="https://x", access_token="t")
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(ImproperlyConfigured, match="cannot be decrypted with any FIELD_ENCRYPTION_KEY"):
        SalesforceConnection.objects.get(pk=connection.pk)
