from django.apps import AppConfig


class RoxcrmConfig(AppConfig):
    name = "roxcrm"
    verbose_name = "Rox CRM"

    def ready(self) -> None:
        from roxcrm import (
            checks,  # noqa: F401  (registers the deploy checks)
            lookups,
        )

        lookups.register()
