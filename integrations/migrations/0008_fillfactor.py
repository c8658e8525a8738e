from django.db import migrations

from roxcrm.migration_ops import FillFactor


class Migration(migrations.Migration):
    """Room for the sync's updates in place: links (shadows, stamps) and the records they keep in step."""

    dependencies = [
        ("integrations", "0007_writeback_requested"),
        ("roxcrm", "0003_account_removed_at_account_removed_reason_and_more"),
        ("activities", "0004_activity_origin_activity_removed_at_and_more"),
    ]

    operations = [
        FillFactor("integrations_salesforcelink"),
        FillFactor("roxcrm_account"),
        FillFactor("roxcrm_contact"),
        FillFactor("roxcrm_lead"),
        FillFactor("roxcrm_opportunity"),
        FillFactor("roxcrm_opportunitylineitem"),
        FillFactor("activities_activity"),
    ]
