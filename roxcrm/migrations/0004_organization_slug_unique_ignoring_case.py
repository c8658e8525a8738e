import django.db.models.functions.text
from django.db import migrations, models


def rename_case_twins(apps, schema_editor):
    """Slugs that differ only in case (accepted before) would stop the constraint from being added: the oldest
    organization keeps its slug, each later one gets the first free ``<slug>-N``."""
    Organization = apps.get_model("roxcrm", "Organization")
    existing = {slug.lower() for slug in Organization.objects.values_list("slug", flat=True)}
    taken = set()
    for organization in Organization.objects.order_by("pk"):
        slug = organization.slug
        if slug.lower() in taken:
            number = 2
            while _numbered(slug, number).lower() in taken | existing:
                number += 1
            organization.slug = _numbered(slug, number)
            organization.save(update_fields=["slug"])
        taken.add(organization.slug.lower())


def _numbered(slug, number):
    suffix = f"-{number}"
    return slug[: 60 - len(suffix)] + suffix


class Migration(migrations.Migration):
    dependencies = [("roxcrm", "0003_account_removed_at_account_removed_reason_and_more")]

    operations = [
        migrations.RunPython(rename_case_twins, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="organization",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower("slug"),
                name="organization_slug_unique_ignoring_case",
                violation_error_message="Another organization already uses this address.",
            ),
        ),
    ]
