"""Re-encrypt every stored secret with the first FIELD_ENCRYPTION_KEY (run after putting a new key first)."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from integrations.crypto import EncryptedTextField


class Command(BaseCommand):
    help = "Re-encrypt stored secrets with the first key of FIELD_ENCRYPTION_KEY, so older keys can be removed."

    def handle(self, *args: Any, **options: Any) -> None:
        total = 0
        for model in apps.get_models():
            fields = [f.name for f in model._meta.get_fields() if isinstance(f, EncryptedTextField)]
            if not fields:
                continue
            with transaction.atomic():
                for row in model.objects.select_for_update().only("pk", *fields):
                    # Reading decrypts with whichever key fits; saving encrypts with the first key.
                    row.save(update_fields=fields)
                    total += 1
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted the secrets of {total} row(s) with the first key."))
