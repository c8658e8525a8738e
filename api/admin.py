from django.contrib import admin

from api.models import ApiToken
from roxcrm.admin import RoxModelAdmin


@admin.register(ApiToken)
class ApiTokenAdmin(RoxModelAdmin):
    """Tokens are created (their secret shown once) and revoked on Settings → API tokens; here they are only
    looked at."""

    list_display = ["name", "organization", "kind", "scope", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["kind", "scope"]
    list_select_related = ["organization"]
    search_fields = ["name", "organization__name", "prefix"]
    fields = [
        "name",
        "organization",
        "kind",
        "scope",
        "prefix",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: object) -> bool:
        return False
