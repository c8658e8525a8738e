from django.db import migrations

from roxcrm.migration_ops import CustomValuesIndex


class Migration(migrations.Migration):
    """Added objects' records get the GIN index the standard record tables have: filtering by a custom value, and
    a parent's linked records (an account's projects), are answered from it."""

    dependencies = [("roxcrm", "0005_object_definitions")]

    operations = [CustomValuesIndex("roxcrm_objectrecord")]
