from django.contrib import admin
from django.db.models import JSONField

from integrations.models import SalesforceConnection, SyncRun
from roxcrm.admin import RoxModelAdmin
from roxcrm.forms import StrictJSONDecoder


@admin.register(SalesforceConnection)
class SalesforceConnectionAdmin(RoxModelAdmin):
    list_display = ["organization", "status", "sf_org_id", "sf_username", "connected_at", "last_sync_at"]
    list_filter = ["status", "environment", "grant"]
    list_select_related = ["organization"]
    raw_id_fields = ["organization", "connected_by"]
    search_fields = ["organization__name", "sf_org_id", "sf_username"]
    # Tokens and the client secret are never shown, not even encrypted. Where tokens go (login and instance URL, the
    # host that issued them) changes only through the wizard, which checks the host allow-list and discards tokens
    # bound to another host.
    exclude = ["access_token", "refresh_token", "client_secret"]
    readonly_fields = [
        "environment",
        "login_url",
        "token_login_url",
        "grant",
        "client_id",
        "sf_org_id",
        "sf_user_id",
        "sf_username",
        "instance_url",
        "token_issued_at",
        "token_generation",
        "api_used",
        "api_max",
        "api_usage_at",
    ]


@admin.register(SyncRun)
class SyncRunAdmin(RoxModelAdmin):
    list_display = ["started_at", "connection", "kind", "sobject", "outcome", "api_calls"]
    list_filter = ["kind", "outcome"]
    list_select_related = ["connection__organization"]
    raw_id_fields = ["connection", "started_by"]
    search_fields = ["connection__organization__name", "error"]
    formfield_overrides = {JSONField: {"decoder": StrictJSONDecoder}}
