from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"

    def ready(self) -> None:
        from django.core.checks import register
        from django.db.models.signals import post_migrate

        from integrations.salesforce.hosts import check_allowed_hosts

        post_migrate.connect(_sync_schedules, sender=self)
        register(check_allowed_hosts)


def _sync_schedules(**kwargs: object) -> None:
    """Schedules are declared in code (``integrations.schedules``): bring the stored ones in step on migrate."""
    from integrations.schedules import schedules_sync_all

    schedules_sync_all()
