"""Forms only validate; views hand the cleaned values to ``roxcrm.services``."""

from __future__ import annotations

import json
import math
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import models

from roxcrm import custom_fields, hooks, objects
from roxcrm.models import (
    Account,
    Contact,
    CrmRecord,
    CustomField,
    Lead,
    Membership,
    ObjectRecord,
    Opportunity,
    Organization,
    Product,
    User,
)
from roxcrm.services import CUSTOM_PREFIX

CUSTOM_FORM_PREFIX = "cf_"


class StrictJSONDecoder(json.JSONDecoder):
    """JSON as a form (the Django admin's JSON fields) reads it, refusing two things Django's ``JSONField`` lets
    through to a server error: a number of more than 4,300 digits (Python refuses to read it with ``ValueError``,
    which the form does not catch) and ``NaN`` or ``Infinity`` (no database stores them as JSON). Both become the
    form's own "Enter a valid JSON." message."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.update(parse_int=_json_int, parse_float=_json_float, parse_constant=_json_constant)
        super().__init__(**kwargs)


def _json_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise json.JSONDecodeError("Number too long", text, 0) from None


def _json_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise json.JSONDecodeError("Number out of range", text, 0)
    return number


def _json_constant(text: str) -> float:
    raise json.JSONDecodeError(f"{text} is not a number JSON stores", text, 0)


class RecordForm(forms.ModelForm):
    """A record's standard fields plus the organization's custom fields that this user may see.

    Foreign keys only offer records of the same organization, owners only its members. Custom fields that are
    read-only in Rox are shown disabled. ``version`` carries the version the user saw, so a save over someone
    else's newer change is refused instead of silently overwriting it.
    """

    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, organization: Organization, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organization = organization
        self.user = user
        instance: CrmRecord = self.instance
        if instance.pk:
            self.fields["version"].initial = instance.version
        for name, form_field in self.fields.items():
            if isinstance(form_field, forms.ModelChoiceField):
                model = form_field.queryset.model
                if model is User:
                    form_field.queryset = User.objects.filter(memberships__organization=organization).order_by("email")
                else:
                    form_field.queryset = model.objects.filter(organization=organization)
            if name in _DATALISTS.get(type(instance), {}):
                form_field.widget.attrs["list"] = f"{name}-suggestions"
        # Fields Salesforce owns (mapped Read Only): shown, not editable, with where they come from; and fields a
        # writing rule sends to a Salesforce picklist: chosen from its values (one read of both).
        self.locked, self.picklists = hooks.field_rules(instance, creating=instance.pk is None)
        for name, reason in self.locked.items():
            if name in self.fields:
                self.fields[name].disabled = True
                self.fields[name].help_text = reason
        for name, picklist in self.picklists.items():
            if isinstance(self.fields.get(name), forms.CharField) and not picklist.multiple:
                current = getattr(instance, name, "") if instance.pk else ""
                self.fields[name] = picklist_field(self.fields[name], picklist, current)
                if instance.pk is None and self.initial.get(name) not in picklist.values:
                    self.initial[name] = picklist.default or ""
        self.custom_definitions: list[CustomField] = []
        stored = instance.custom_values or {}
        for definition in custom_fields.definitions_for(organization, instance.object_type):
            if not definition.visible_to(user):
                continue
            self.custom_definitions.append(definition)
            key = CUSTOM_PREFIX + definition.api_name
            reason = self.locked.get(key)
            form_field = custom_fields.form_field(definition, disabled=not definition.editable_in_rox or bool(reason))
            form_field.initial = custom_fields.initial_value(definition, stored.get(definition.api_name))
            picklist = self.picklists.get(key)
            if picklist is not None and definition.data_type == CustomField.DataType.TEXT and not picklist.multiple:
                # A custom text field mapped to a picklist (a custom picklist keeps its own options).
                current = form_field.initial or ""
                form_field = picklist_field(form_field, picklist, current)
                if instance.pk is None and form_field.initial is None:
                    form_field.initial = picklist.default
            if reason:
                form_field.help_text = reason
            self.fields[CUSTOM_FORM_PREFIX + definition.api_name] = form_field

    @property
    def datalists(self) -> dict[str, tuple[str, ...]]:
        """Suggestions for free-text fields (none for a field chosen from a Salesforce picklist)."""
        return {name: v for name, v in _DATALISTS.get(type(self.instance), {}).items() if name not in self.picklists}

    def standard_values(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in self._meta.fields if name in self.cleaned_data}

    def custom_values(self) -> dict[str, Any]:
        """The custom values the person changed on the form. Untouched ones are left out: an unset checkbox reads
        back as unticked, and saving it would record (and write to Salesforce) a change nobody made."""
        return {
            d.api_name: self.cleaned_data.get(CUSTOM_FORM_PREFIX + d.api_name)
            for d in self.custom_definitions
            if d.editable_in_rox
            and CUSTOM_PREFIX + d.api_name not in self.locked
            and CUSTOM_FORM_PREFIX + d.api_name in self.changed_data
        }

    def edited_keys(self) -> list[str]:
        """The fields the person changed, as the edit path names them (custom fields as ``custom.<api_name>``)."""
        keys = []
        for name in self.changed_data:
            if name.startswith(CUSTOM_FORM_PREFIX):
                keys.append(CUSTOM_PREFIX + name[len(CUSTOM_FORM_PREFIX) :])
            elif name in self._meta.fields:
                keys.append(name)
        return keys

    def add_service_errors(self, error: ValidationError) -> None:
        """Show the edit service's errors on the matching fields (custom fields are ``custom.<api_name>``)."""
        for name, messages in error.message_dict.items():
            target = CUSTOM_FORM_PREFIX + name.removeprefix(CUSTOM_PREFIX) if name.startswith(CUSTOM_PREFIX) else name
            if target not in self.fields:
                target = None
            for message in messages:
                self.add_error(target, message)

    def custom_fields_rows(self) -> list[forms.BoundField]:
        return [self[CUSTOM_FORM_PREFIX + d.api_name] for d in self.custom_definitions]

    def standard_rows(self) -> list[forms.BoundField]:
        return [self[name] for name in self._meta.fields]


INACTIVE_SUFFIX = " (no longer a value in Salesforce)"


def picklist_options(picklist: hooks.Picklist, current: str, *, required: bool) -> list[tuple[str, str]]:
    """A select's choices for a field chosen from a Salesforce picklist: a blank unless it is required, the
    record's value when Salesforce no longer has it (labelled so, and kept when the record is saved without
    touching it), then Salesforce's active values."""
    choices: list[tuple[str, str]] = [] if required else [("", "—")]
    if current and current not in picklist.values:
        choices.append((current, f"{current}{INACTIVE_SUFFIX}"))
    return [*choices, *((value, value) for value in picklist.values)]


def picklist_field(original: forms.Field, picklist: hooks.Picklist, current: str) -> forms.ChoiceField:
    """``original`` (a text field) as a select of ``picklist``'s values (see ``picklist_options``)."""
    chosen = forms.ChoiceField(
        label=original.label,
        required=original.required,
        disabled=original.disabled,
        initial=original.initial,
        choices=picklist_options(picklist, current, required=original.required),
        help_text=original.help_text or f"Salesforce's values ({picklist.salesforce_field}).",
        error_messages={"invalid_choice": _not_a_value(picklist)},
    )
    chosen.widget.attrs["data-salesforce-field"] = picklist.salesforce_field
    return chosen


def _not_a_value(picklist: hooks.Picklist) -> str:
    """The select's refusal of another value, worded as the edit path's (Django fills in ``%(value)s``)."""
    escaped = [text.replace("%", "%%") for text in (picklist.salesforce_field, ", ".join(picklist.values))]
    return f"“%(value)s” is not a value of Salesforce's {escaped[0]}. Its values: {escaped[1]}."


_DATALISTS: dict[type, dict[str, tuple[str, ...]]] = {
    Opportunity: {"stage": Opportunity.STAGE_SUGGESTIONS},
    Lead: {"status": Lead.STATUS_SUGGESTIONS},
}


def https_url_fields(db_field: models.Field, **kwargs: Any) -> forms.Field | None:
    """Form fields for a model, taking a web address typed without a scheme as https://."""
    if isinstance(db_field, models.URLField):
        kwargs["assume_scheme"] = "https"
    return db_field.formfield(**kwargs)


class AccountForm(RecordForm):
    class Meta:
        model = Account
        formfield_callback = https_url_fields
        fields = [
            "name",
            "website",
            "industry",
            "annual_revenue",
            "employee_count",
            "phone",
            "billing_street",
            "billing_city",
            "billing_state",
            "billing_postal_code",
            "billing_country",
            "owner",
        ]
        widgets = {"billing_street": forms.Textarea(attrs={"rows": 2})}


class ContactForm(RecordForm):
    class Meta:
        model = Contact
        fields = ["first_name", "last_name", "email", "phone", "title", "account"]


class OpportunityForm(RecordForm):
    class Meta:
        model = Opportunity
        fields = ["name", "account", "amount", "stage", "close_date", "probability", "next_step", "owner"]
        widgets = {"close_date": forms.DateInput(attrs={"type": "date"})}


class LeadForm(RecordForm):
    class Meta:
        model = Lead
        fields = ["first_name", "last_name", "email", "company", "title", "phone", "status", "owner"]


class ProductForm(RecordForm):
    class Meta:
        model = Product
        fields = ["name", "product_code", "family", "is_active"]


class ObjectRecordForm(RecordForm):
    """A record of an object the organization added: its name and owner here, its fields as custom fields."""

    class Meta:
        model = ObjectRecord
        fields = ["name", "owner"]


class OwnerlessObjectRecordForm(ObjectRecordForm):
    """A record of an added object that has no owner (a Salesforce master-detail child: its master's owner is its
    owner), so the form offers none."""

    class Meta:
        model = ObjectRecord
        fields = ["name"]


# ---------------------------------------------------------------------------------------------------------------
# Settings


class OrganizationForm(forms.ModelForm):
    class Meta:
        model = Organization
        fields = ["name", "slug"]


class InviteForm(forms.Form):
    email = forms.EmailField(label="E-mail address")
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


class CustomFieldForm(forms.ModelForm):
    """Create or edit a custom field definition. The API name is derived from the label when left blank and
    cannot change once the field has held a value."""

    options_text = forms.CharField(
        label="Options",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Picklists only: one option per line.",
    )

    class Meta:
        model = CustomField
        fields = [
            "object_type",
            "label",
            "api_name",
            "data_type",
            "help_text",
            "max_length",
            "decimal_places",
            "min_value",
            "max_value",
            "required",
            "editable_in_rox",
            "visibility",
            "target",
        ]

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organization = organization
        self.fields["object_type"] = forms.ChoiceField(
            label="Object", choices=objects.custom_field_objects(organization)
        )
        self.fields["target"] = forms.ChoiceField(
            label="Links to",
            required=False,
            choices=[("", "—"), *((o.key, o.label) for o in objects.link_targets(organization))],
            help_text="Link fields only: the object whose record the field holds.",
        )
        self.fields["api_name"].required = False
        if self.instance.pk:
            self.fields["object_type"].disabled = True
            self.fields["data_type"].disabled = True
            self.fields["options_text"].initial = "\n".join(self.instance.options or [])
            self.fields["target"].disabled = True
            if self.instance.first_used_at:
                self.fields["api_name"].disabled = True
                self.fields["api_name"].help_text = "Fixed: records already hold values under this name."

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not cleaned.get("api_name") and cleaned.get("label"):
            cleaned["api_name"] = custom_fields.api_name_from_label(cleaned["label"])
            self.instance.api_name = cleaned["api_name"]
        options = [line.strip() for line in (cleaned.get("options_text") or "").splitlines() if line.strip()]
        self.instance.options = options
        object_type = cleaned.get("object_type") or self.instance.object_type
        api_name = cleaned.get("api_name")
        if api_name and object_type:
            clash = CustomField.objects.filter(
                organization=self.organization, object_type=object_type, api_name=api_name
            ).exclude(pk=self.instance.pk)
            if clash.exists():
                self.add_error("api_name", f"Another {object_type} field already uses the API name “{api_name}”.")
        return cleaned

    def _post_clean(self) -> None:
        self.instance.organization = self.organization
        super()._post_clean()

    def _update_errors(self, errors: ValidationError) -> None:
        # The definition's checks name the option list "options"; this form edits it as "options_text" (without
        # this, Django refuses to add an error for a field the form does not have, and the page fails).
        if hasattr(errors, "error_dict") and "options" in errors.error_dict:
            errors.error_dict["options_text"] = errors.error_dict.pop("options")
        super()._update_errors(errors)
