"""CRM mappings: per Salesforce object, whether it syncs and how often, whether records created in Rox are created
in Salesforce, which Salesforce field flows to which Rox field under which rule, and fixed values written into
Salesforce fields. Every change is recorded in ``MappingChange``."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

from django.conf import settings
from django.db import models

from roxcrm.models import Organization


class Tab(models.TextChoices):
    ACCOUNTS = "accounts", "Accounts"
    OPPORTUNITIES = "opportunities", "Opportunities"
    ACTIVITIES = "activities", "Activities"
    LEADS = "leads", "Leads"
    CUSTOM = "custom", "Custom objects"


class ObjectMapping(models.Model):
    """One Salesforce object's place in the sync (an Accounts tab holds Account and its Contacts, and so on)."""

    FREQUENCIES: ClassVar[list[int]] = [5, 10, 15, 30, 60, 180, 360, 720, 1440]

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="object_mappings")
    sobject = models.CharField("Salesforce object", max_length=80)
    rox_object = models.CharField("Rox object", max_length=50)
    tab = models.CharField(max_length=20, choices=Tab.choices)
    position = models.PositiveSmallIntegerField(default=0)
    read_only = models.BooleanField(default=False, help_text="Rox only reads this object (no writeback).")
    sync_enabled = models.BooleanField(
        "sync", default=True, help_text="Paused: nothing is read or written; data and pending work are kept."
    )
    sync_frequency = models.PositiveSmallIntegerField(
        "sync every (minutes)", default=15, choices=[(m, f"{m} minutes") for m in FREQUENCIES]
    )
    new_entity_writeback = models.BooleanField(
        default=False, help_text="Create in Salesforce the records created in Rox."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tab", "position"]
        constraints = [models.UniqueConstraint(fields=["organization", "sobject"], name="objectmapping_unique")]

    def __str__(self) -> str:
        return f"{self.sobject} ↔ {self.rox_object}"

    def clean(self) -> None:
        from mappings.validation import validate_object_mapping

        validate_object_mapping(self)


class FieldMapping(models.Model):
    """A Salesforce field paired with a Rox field under a rule."""

    class Rule(models.TextChoices):
        READ_ONLY = "read_only", "Read Only"
        READ_WRITE = "read_write", "Read and Write"
        WRITE_ONLY = "write_only", "Write Only"
        PREFER_SALESFORCE = "prefer_salesforce", "Prefer Salesforce unless blank"

    WRITING_RULES = frozenset({"read_write", "write_only", "prefer_salesforce"})
    READING_RULES = frozenset({"read_only", "read_write", "prefer_salesforce"})

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    object_mapping = models.ForeignKey(ObjectMapping, on_delete=models.CASCADE, related_name="field_mappings")
    sf_field = models.CharField("Salesforce field", max_length=120)
    rox_field = models.CharField("Rox field", max_length=120)
    rule = models.CharField(max_length=20, choices=Rule.choices, default=Rule.READ_ONLY)
    is_basic = models.BooleanField(
        default=False,
        help_text="A basic field: used to de-duplicate and link records; it can be re-pointed, not removed.",
    )
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-is_basic", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["object_mapping", "sf_field"], name="fieldmapping_sf_field_unique"),
            models.UniqueConstraint(fields=["object_mapping", "rox_field"], name="fieldmapping_rox_field_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.sf_field} ↔ {self.rox_field} ({self.get_rule_display()})"

    @property
    def writes(self) -> bool:
        return self.rule in self.WRITING_RULES

    @property
    def reads(self) -> bool:
        return self.rule in self.READING_RULES

    def clean(self) -> None:
        from mappings.validation import validate_field_mapping

        validate_field_mapping(self)


class StaticValue(models.Model):
    """A fixed value written into a Salesforce field on every record Rox writes (or only on those it creates)."""

    class When(models.TextChoices):
        EVERY_WRITE = "every_write", "On every write"
        CREATE_ONLY = "create_only", "Only when Rox creates the record"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    object_mapping = models.ForeignKey(ObjectMapping, on_delete=models.CASCADE, related_name="static_values")
    sf_field = models.CharField("Salesforce field", max_length=120)
    value = models.CharField(max_length=4000, blank=True)
    clear_field = models.BooleanField(
        "Write a blank",
        default=False,
        help_text="Clear the Salesforce field on every record Rox writes. An empty value is written only when this "
        "is chosen, so a value forgotten on the form never clears a field.",
    )
    when = models.CharField(max_length=20, choices=When.choices, default=When.EVERY_WRITE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["object_mapping", "sf_field"], name="staticvalue_unique")]

    def __str__(self) -> str:
        return f"{self.sf_field} = {self.shown_value}"

    @property
    def shown_value(self) -> str:
        return "blank (clears the field)" if self.clear_field else f"“{self.value}”"

    def clean(self) -> None:
        from mappings.validation import validate_static_value

        validate_static_value(self)


def frequency_label(minutes: int) -> str:
    if minutes < 60:
        return f"{minutes} minutes"
    hours = minutes // 60
    return "1 hour" if hours == 1 else f"{hours} hours"


def rule_label(rule: str) -> str:
    """A rule as CRM Mappings names it ("Read and Write")."""
    return FieldMapping.Rule(rule).label if rule in FieldMapping.Rule.values else rule


def mapping_in_words(sf_field: str, rox_label: str, rule: str) -> str:
    """A field mapping as people read it: "Status__c → Status, Read and Write"."""
    return f"{sf_field} → {rox_label}, {rule_label(rule)}"


class MappingChange(models.Model):
    """Who changed which mapping when, with the values before and after. ``before`` and ``after`` hold the changed
    thing's fields as saved (a field mapping's ``sf_field``, ``rox_field``, ``rule``; a static value's; an object's
    settings; the activity switches; an added object's fields and rule); ``in_words`` says them as people read
    them."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    object_mapping = models.ForeignKey(
        ObjectMapping, null=True, blank=True, on_delete=models.SET_NULL, related_name="changes"
    )
    changed_at = models.DateTimeField(auto_now_add=True, db_index=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    summary = models.CharField(max_length=255)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-changed_at", "-id"]

    def __str__(self) -> str:
        return self.summary

    @property
    def is_field_mapping(self) -> bool:
        return any(
            isinstance(v, dict) and {"sf_field", "rox_field", "rule"} <= v.keys() for v in (self.before, self.after)
        )

    def title(self, labels: Mapping[str, str] | None = None) -> str:
        """What changed, in words: a field mapping by its Salesforce field and Rox field's label ("Account.Phone →
        Phone: mapping changed"); anything else by its recorded summary."""
        if not self.is_field_mapping:
            return self.summary
        values = self.after or self.before or {}
        verb = "added" if not self.before else "removed" if not self.after else "changed"
        sobject = self.object_mapping.sobject if self.object_mapping else self.summary.split(".", 1)[0]
        label = (labels or {}).get(values["rox_field"], values["rox_field"])
        return f"{sobject}.{values['sf_field']} → {label}: mapping {verb}"

    def in_words(self, side: str, labels: Mapping[str, str] | None = None) -> str:
        """``before`` or ``after`` (``side``) as people read it: "Status__c → Status, Read and Write" (Rox fields by
        their label, from ``labels``: key → label), "Region__c = “EMEA”, on every write", "Sync on, every 15
        minutes, new entity writeback off"; "—" when there is nothing (a mapping added has no before)."""
        values: Any = getattr(self, side)
        if not values:
            return "—"
        if not isinstance(values, dict):
            return str(values)
        labels = labels or {}
        if {"sf_field", "rox_field", "rule"} <= values.keys():
            rox = values["rox_field"]
            return mapping_in_words(values["sf_field"], labels.get(rox, rox), values["rule"])
        if {"sf_field", "when"} <= values.keys():
            shown = "a blank (clears the field)" if values.get("clear_field") else f"“{values.get('value', '')}”"
            when = dict(StaticValue.When.choices).get(values["when"], values["when"])
            return f"{values['sf_field']} = {shown}, {when[:1].lower()}{when[1:]}"
        if "sync_frequency" in values:
            parts = [f"Sync {'on' if values.get('sync_enabled') else 'paused'}"]
            parts.append(f"every {frequency_label(int(values['sync_frequency']))}")
            if "new_entity_writeback" in values:
                parts.append(f"new entity writeback {'on' if values['new_entity_writeback'] else 'off'}")
            return ", ".join(parts)
        if "fields" in values:
            fields = ", ".join(values["fields"]) or "none besides the name and owner"
            rule = f"; {rule_label(values['rule'])}" if values.get("rule") else ""
            return f"Fields: {fields}{rule}"
        switches = {
            f.name: str(f.verbose_name) for f in ActivitySettings._meta.get_fields() if hasattr(f, "verbose_name")
        }
        return ", ".join(
            f"{switches.get(k, k.replace('_', ' ').capitalize())} {'on' if v is True else 'off' if v is False else v}"
            for k, v in values.items()
        )


class ActivitySettings(models.Model):
    """The Activities tab's switches: which activities Rox writes to Salesforce (each type as a Task, meetings as
    Events), and whether e-mail activities may be attached to Leads. Each switch is enforced when writing."""

    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="activity_settings")
    email_writeback = models.BooleanField("Email Writeback", default=False)
    call_writeback = models.BooleanField("Phone Call Writeback", default=False)
    linkedin_message_writeback = models.BooleanField("LinkedIn Message Writeback", default=False)
    linkedin_connection_writeback = models.BooleanField("LinkedIn Connection Writeback", default=False)
    meeting_writeback = models.BooleanField("Meeting Writeback", default=False)
    lead_resolution = models.BooleanField(
        "Lead Resolution",
        default=False,
        help_text="Attach e-mail activities to a Lead when no Contact has the address.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    # Rox activity type -> the switch that lets it be written.
    SWITCHES: ClassVar[dict[str, str]] = {
        "email": "email_writeback",
        "call": "call_writeback",
        "linkedin_message": "linkedin_message_writeback",
        "linkedin_connection": "linkedin_connection_writeback",
        "meeting": "meeting_writeback",
    }

    def __str__(self) -> str:
        return f"Activity writeback of {self.organization}"

    @classmethod
    def switch_label(cls, activity_type: str) -> str:
        """The name of the switch that lets ``activity_type`` be written ("Phone Call Writeback")."""
        return str(cls._meta.get_field(cls.SWITCHES.get(activity_type, "email_writeback")).verbose_name)

    def writes(self, activity_type: str) -> bool:
        switch = self.SWITCHES.get(activity_type)
        return bool(switch and getattr(self, switch))

    @classmethod
    def for_organization(cls, organization: Organization) -> ActivitySettings:
        settings_row, _ = cls.objects.get_or_create(organization=organization)
        return settings_row
