from django.contrib import admin

from activities.models import Activity
from roxcrm.admin import RecordAdmin


@admin.register(Activity)
class ActivityAdmin(RecordAdmin):
    list_display = ["occurred_at", "type", "subject", "organization_name"]
    list_filter = ["type"]
    list_select_related = ["organization"]
    search_fields = ["subject", "participant_emails"]
    raw_id_fields = ["organization", "owner", "account", "opportunity", "contact", "lead"]
