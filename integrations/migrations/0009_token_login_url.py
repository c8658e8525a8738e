from django.db import migrations, models


def tokens_came_from_the_login_url(apps, schema_editor):
    """Connections signed in before tokens were bound to their host got them from the login URL they have now."""
    SalesforceConnection = apps.get_model("integrations", "SalesforceConnection")
    SalesforceConnection.objects.filter(token_login_url="").update(token_login_url=models.F("login_url"))


class Migration(migrations.Migration):
    dependencies = [("integrations", "0008_fillfactor")]

    operations = [
        migrations.AddField(
            model_name="salesforceconnection",
            name="token_login_url",
            field=models.URLField(blank=True, max_length=255),
        ),
        migrations.RunPython(tokens_came_from_the_login_url, migrations.RunPython.noop),
    ]
