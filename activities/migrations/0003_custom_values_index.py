from django.db import migrations

from roxcrm.migration_ops import CustomValuesIndex


class Migration(migrations.Migration):
    dependencies = [("activities", "0002_initial")]

    operations = [CustomValuesIndex("activities_activity")]
