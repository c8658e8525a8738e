"""Static files in production: whitenoise's compressed, hashed names, and pages that still work before
`collectstatic` has run."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from whitenoise.storage import CompressedManifestStaticFilesStorage

logger = logging.getLogger(__name__)


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    """``CompressedManifestStaticFilesStorage`` that, while there is no manifest (``collectstatic`` has not run), gives
    the plain names instead of raising on every ``{% static %}``, which made every page a 500; the first page served
    logs an error saying what to run. Pages are unstyled until then, but they work and say nothing misleading."""

    manifest_missing = False
    _missing_reported = False

    def load_manifest(self) -> tuple[dict[str, Any], str]:
        self.manifest_missing = self.read_manifest() is None
        return super().load_manifest()

    def save_manifest(self) -> None:
        super().save_manifest()
        self.manifest_missing = False

    def stored_name(self, name: str) -> str:
        if not self.manifest_missing:
            return super().stored_name(name)
        if not self._missing_reported:
            self._missing_reported = True
            logger.error(
                "Static files have not been collected: there is no %s in STATIC_ROOT (%s), so pages are served "
                "without their stylesheet. Run `python manage.py collectstatic --noinput`, then restart the web "
                "server.",
                self.manifest_name,
                settings.STATIC_ROOT,
            )
        return name
