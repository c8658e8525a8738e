"""Forms of the CRM Mappings tabs. They offer only what the org's schema and Rox have; the services validate."""

from __future__ import annotations

from typing import Any

from django import forms

from mappings.metadata import RoxField, SalesforceObject
from mappings.models import ActivitySettings, FieldMapping, ObjectMapping, StaticValue, frequency_label
from mappings.services import ROX_TYPE_FOR
from mappings.validation import COMPATIBLE
from roxcrm.models import CustomField


def salesforce_field_choices(sf_object: SalesforceObject | None, current: str = "") -> list[tuple[str, str]]:
    choices = [("", "— Salesforce field —")]
    if sf_object is not None:
        choices += [
            (f.name, f"{f.label} · {f.name} · {f.type_label}") for f in sf_object.sorted_fields() if f.name != "Id"
        ]
    if current and all(value != current for value, _ in choices):
        choices.append((current, f"{current} (not in Salesforce)"))
    return choices


class ObjectSettingsForm(forms.Form):
    sync_enabled = forms.BooleanField(label="Sync", required=False)
    sync_frequency = forms.TypedChoiceField(label="Every", coerce=int, choices=[])
    new_entity_writeback = forms.BooleanField(label="New entity writeback", required=False)

    def __init__(self, *args: Any, writeback_blockers: list[str], read_only: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sync_frequency"].choices = [(m, frequency_label(m)) for m in ObjectMapping.FREQUENCIES]
        writeback = self.fields["new_entity_writeback"]
        if read_only:
            del self.fields["new_entity_writeback"]
        elif writeback_blockers and not self.initial.get("new_entity_writeback"):
            writeback.disabled = True
        self.writeback_blockers = writeback_blockers


class FieldMappingForm(forms.Form):
    """A new custom mapping row: Salesforce field, Rox field, rule."""

    sf_field = forms.ChoiceField(label="Salesforce field")
    rox_field = forms.ChoiceField(label="Rox field")
    rule = forms.ChoiceField(choices=FieldMapping.Rule.choices, initial=FieldMapping.Rule.READ_ONLY)

    def __init__(
        self,
        *args: Any,
        sf_object: SalesforceObject | None,
        rox_fields: dict[str, RoxField],
        read_only: bool,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sf_field"].choices = salesforce_field_choices(sf_object)
        self.fields["rox_field"].choices = [("", "— Rox field —")] + [
            (key, f"{field.label}{' (custom)' if field.custom else ''}")
            for key, field in sorted(rox_fields.items(), key=lambda item: item[1].label.lower())
            if field.type != "managed"
        ]
        if read_only:
            self.fields["rule"].choices = [(FieldMapping.Rule.READ_ONLY, "Read Only")]


class RowForm(forms.Form):
    """Change an existing row: a basic row's Salesforce field, or any row's rule."""

    sf_field = forms.ChoiceField(label="Salesforce field")
    rule = forms.ChoiceField(choices=FieldMapping.Rule.choices)

    def __init__(self, *args: Any, sf_object: SalesforceObject | None, mapping: FieldMapping, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"sf_field": mapping.sf_field, "rule": mapping.rule})
        super().__init__(*args, **kwargs)
        self.fields["sf_field"].choices = salesforce_field_choices(sf_object, mapping.sf_field)
        if not mapping.is_basic:
            self.fields["sf_field"].disabled = True
        if mapping.object_mapping.read_only or mapping.rox_field.startswith("activity."):
            self.fields["rule"].disabled = True


class StaticValueForm(forms.Form):
    sf_field = forms.ChoiceField(label="Salesforce field")
    value = forms.CharField(max_length=4000, required=False)
    clear_field = forms.BooleanField(label="Write a blank", required=False)
    when = forms.ChoiceField(choices=StaticValue.When.choices, initial=StaticValue.When.EVERY_WRITE)

    def __init__(self, *args: Any, sf_object: SalesforceObject | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", "— Salesforce field —")]
        if sf_object is not None:
            choices += [
                (f.name, f"{f.label} · {f.name} · {f.type_label}")
                for f in sf_object.sorted_fields()
                if (f.createable or f.updateable) and not f.calculated and f.name != "Id"
            ]
        self.fields["sf_field"].choices = choices


class AddFieldForm(forms.Form):
    """+ Add Field: a new custom Rox field shaped like a Salesforce field, mapped to it at once."""

    label = forms.CharField(max_length=80, label="Name")
    data_type = forms.ChoiceField(label="Data type")
    editable_in_rox = forms.BooleanField(
        label="Editable in Rox",
        required=False,
        initial=True,
        help_text="People may change it in Rox. Mapped Read Only, it stays read-only on the records that come from "
        "Salesforce (Salesforce's value wins there); on records only Rox holds, this decides.",
    )
    visibility = forms.ChoiceField(choices=CustomField.Visibility.choices, initial=CustomField.Visibility.ORGANIZATION)
    rule = forms.ChoiceField(choices=FieldMapping.Rule.choices, initial=FieldMapping.Rule.READ_ONLY, label="Map it as")

    def __init__(self, *args: Any, sf_type: str, read_only: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only the Rox types that pair with this Salesforce field's type.
        allowed = [
            (value, label) for value, label in CustomField.DataType.choices if sf_type in COMPATIBLE.get(value, ())
        ]
        suggested = ROX_TYPE_FOR.get(sf_type, "text")
        self.fields["data_type"].choices = allowed or [(suggested, dict(CustomField.DataType.choices)[suggested])]
        self.fields["data_type"].initial = suggested
        if read_only:
            self.fields["rule"].choices = [(FieldMapping.Rule.READ_ONLY, "Read Only")]


class ActivitySwitchesForm(forms.ModelForm):
    """The Activities tab's writeback switches."""

    class Meta:
        model = ActivitySettings
        fields = [
            "email_writeback",
            "call_writeback",
            "linkedin_message_writeback",
            "linkedin_connection_writeback",
            "meeting_writeback",
            "lead_resolution",
        ]

    def __init__(self, *args: Any, blockers: dict[str, list[str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.blockers = blockers
        for name, field_blockers in blockers.items():
            if field_blockers and not getattr(self.instance, name):
                self.fields[name].disabled = True
                self.fields[name].help_text = " ".join(field_blockers)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for name, field_blockers in self.blockers.items():
            if cleaned.get(name) and not getattr(self.instance, name) and field_blockers:
                self.add_error(name, " ".join(field_blockers))
        return cleaned
