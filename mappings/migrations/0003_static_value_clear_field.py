from django.db import migrations, models


def empty_values_were_blanks(apps, schema_editor):
    """An empty static value saved before the choice existed was written as a blank: keep doing so, now on purpose."""
    StaticValue = apps.get_model("mappings", "StaticValue")
    StaticValue.objects.filter(value="").update(clear_field=True)


class Migration(migrations.Migration):
    dependencies = [("mappings", "0002_activity_settings")]

    operations = [
        migrations.AddField(
            model_name="staticvalue",
            name="clear_field",
            field=models.BooleanField(
                default=False,
                help_text="Clear the Salesforce field on every record Rox writes. An empty value is written only when "
                "this is chosen, so a value forgotten on the form never clears a field.",
                verbose_name="Write a blank",
            ),
        ),
        migrations.RunPython(empty_values_were_blanks, migrations.RunPython.noop),
    ]
