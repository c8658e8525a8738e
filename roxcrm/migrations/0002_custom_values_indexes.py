from django.db import migrations

from roxcrm.migration_ops import CustomValuesIndex


class Migration(migrations.Migration):
    dependencies = [("roxcrm", "0001_initial")]

    operations = [
        CustomValuesIndex("roxcrm_account"),
        CustomValuesIndex("roxcrm_contact"),
        CustomValuesIndex("roxcrm_opportunity"),
        CustomValuesIndex("roxcrm_lead"),
        CustomValuesIndex("roxcrm_product"),
    ]
