from activities.forms import ActivityForm
from activities.models import Activity
from roxcrm.record_types import ACTIVITY_COLUMNS, RecordType

ACTIVITY = RecordType(
    key="activity",
    model=Activity,
    form_class=ActivityForm,
    plural="Activities",
    list_columns=(*ACTIVITY_COLUMNS[:3], "account", "opportunity", "owner"),
    search_fields=(
        "subject",
        "body",
        "account__name",
        "opportunity__name",
        "contact__last_name",
        "lead__last_name",
    ),
    detail_fields=(
        "type",
        "occurred_at",
        "direction",
        "duration_seconds",
        "participant_emails",
        "account",
        "opportunity",
        "contact",
        "lead",
        "owner",
        "body",
    ),
    empty_hint="Activities are the e-mails, calls, LinkedIn touches and meetings with your customers. Log one here.",
    select_related=("account", "opportunity", "owner"),
    prefill_parents=("account", "opportunity", "contact", "lead"),
)
