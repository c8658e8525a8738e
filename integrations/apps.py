from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        post_migrate.connect(_sync_schedules, sender=self)


def _sync_schedules(**kwargs: object) -> None:
    """Schedules are declared in code (``integrations.schedules``): bring the stored ones in step on migrate."""
    from integrations.schedules import schedules_sync_all

    schedules_sync_all()
