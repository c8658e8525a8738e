from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db.models import ForeignKey, JSONField, URLField
from django.http import HttpRequest

from roxcrm import hooks
from roxcrm.forms import StrictJSONDecoder, picklist_field
from roxcrm.models import (
    Account,
    Contact,
    CrmRecord,
    CustomField,
    FieldChange,
    Invitation,
    Lead,
    Membership,
    Opportunity,
    OpportunityLineItem,
    Organization,
    Product,
    User,
)
from roxcrm.services import Actor, editable_fields, foreign_key_error, record_create, record_update


class RoxModelAdmin(admin.ModelAdmin):
    """The base of every model admin of Rox."""

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Any:
        # Django takes an empty ?_to_field= for a field named "" and fails with FieldDoesNotExist; empty means the
        # primary key, as no _to_field does.
        return super().get_object(request, object_id, from_field or None)


class DatabaseIdsField(forms.ModelMultipleChoiceField):
    """Django's many-to-many form field, taking an id of more than 18 digits for what it is, an invalid choice:
    SQLite cannot even compare one above 2**63 (the ``IN`` query fails with OverflowError)."""

    def _check_values(self, value: Any) -> Any:
        for pk in value or ():
            digits = str(pk).strip().lstrip("-")
            if digits.isdigit() and len(digits) > 18:
                raise ValidationError(
                    self.error_messages["invalid_choice"], code="invalid_choice", params={"value": pk}
                )
        return super()._check_values(value)


class DatabaseIdsAdmin(RoxModelAdmin):
    """Many-to-many choices (groups, permissions) through ``DatabaseIdsField``."""

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        kwargs.setdefault("form_class", DatabaseIdsField)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(DatabaseIdsAdmin, BaseGroupAdmin):
    pass


@admin.register(User)
class UserAdmin(DatabaseIdsAdmin, BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "is_staff", "is_active", "date_joined"]
    search_fields = ["email", "full_name"]
    fieldsets = (
        (None, {"fields": ("email", "password", "full_name")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


class MembershipInline(admin.TabularInline):
    model = Membership
    raw_id_fields = ["user"]
    extra = 0


@admin.register(Organization)
class OrganizationAdmin(RoxModelAdmin):
    list_display = ["name", "slug", "code", "created_at"]
    search_fields = ["name", "slug", "code"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(RoxModelAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role"]
    list_select_related = ["user", "organization"]
    raw_id_fields = ["user", "organization"]
    search_fields = ["user__email", "organization__name"]


@admin.register(Invitation)
class InvitationAdmin(RoxModelAdmin):
    list_display = ["email", "organization", "role", "created_at", "expires_at", "accepted_at"]
    list_select_related = ["organization"]
    raw_id_fields = ["organization", "invited_by", "accepted_by"]
    search_fields = ["email", "organization__name"]


@admin.register(CustomField)
class CustomFieldAdmin(RoxModelAdmin):
    list_display = [
        "label",
        "api_name",
        "object_type",
        "data_type",
        "organization",
        "visibility",
        "editable_in_rox",
    ]
    list_filter = ["object_type", "data_type", "visibility"]
    list_select_related = ["organization"]
    raw_id_fields = ["organization", "created_by"]
    search_fields = ["label", "api_name", "organization__name"]
    formfield_overrides = {JSONField: {"decoder": StrictJSONDecoder}}


class RecordAdminForm(forms.ModelForm):
    """Refuses what the edit service refuses: related records or owners from another organization. A field a
    writing rule sends to a Salesforce picklist is a select of its values, as on the pages."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        instance = self.instance
        if getattr(instance, "organization_id", None) is None:
            return  # a new record whose organization is not chosen yet: the edit path still refuses other values
        for name, picklist in hooks.picklist_choices(instance, creating=instance.pk is None).items():
            if isinstance(self.fields.get(name), forms.CharField) and not picklist.multiple:
                current = getattr(instance, name, "") if instance.pk else ""
                self.fields[name] = picklist_field(self.fields[name], picklist, current)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        organization = cleaned.get("organization") or getattr(self.instance, "organization", None)
        if organization is None:
            return cleaned
        foreign_keys = {f.name: f for f in self._meta.model._meta.fields if isinstance(f, ForeignKey)}
        for name, value in cleaned.items():
            model_field = foreign_keys.get(name)
            if model_field is not None and value is not None and name != "organization":
                error = foreign_key_error(model_field, value, organization)
                if error:
                    self.add_error(name, error)
        return cleaned


class RecordAdmin(RoxModelAdmin):
    """Records edited in the admin go through the same edit path as the pages (validated, versioned, with field
    change times and history, the staff member recorded as the actor)."""

    form = RecordAdminForm
    formfield_overrides = {JSONField: {"decoder": StrictJSONDecoder}}
    list_select_related = ["organization"]
    raw_id_fields = ["organization"]
    readonly_fields = ["code", "version", "created_at", "updated_at", "custom_values", "field_times"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        """Fields Salesforce owns on this record (mapped Read Only) are read-only here as on the pages."""
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.pk:
            names = {f.name for f in obj._meta.concrete_fields}
            fields += [name for name in hooks.locked_fields(obj) if name in names and name not in fields]
        return fields

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if isinstance(db_field, URLField):
            kwargs["assume_scheme"] = "https"
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.display(description="Organization", ordering="organization__name")
    def organization_name(self, obj: CrmRecord) -> str:
        return obj.organization.name

    def save_model(self, request: HttpRequest, obj: CrmRecord, form: forms.ModelForm, change: bool) -> None:
        _save_through_service(request, obj, form.cleaned_data, form.changed_data if change else None)

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool) -> None:
        instances = formset.save(commit=False)
        for deleted in formset.deleted_objects:
            deleted.delete()
        for inline_form in formset.forms:
            if inline_form.instance in instances:
                changed = inline_form.changed_data if inline_form.instance.pk else None
                _save_through_service(request, inline_form.instance, inline_form.cleaned_data, changed)


def _save_through_service(
    request: HttpRequest, obj: CrmRecord, cleaned: dict[str, Any], changed: list[str] | None
) -> None:
    actor = Actor(kind=FieldChange.ActorKind.USER, user=request.user, label=f"{request.user.email} (admin)")
    editable = set(editable_fields(type(obj)))
    names = changed if changed is not None else list(cleaned)
    values = {name: cleaned[name] for name in names if name in editable}
    if changed is not None:
        record_update(record=obj, values=values, actor=actor)
    else:
        created = record_create(organization=obj.organization, model=type(obj), values=values, actor=actor)
        obj.pk = created.pk
    obj.refresh_from_db()


@admin.register(Account)
class AccountAdmin(RecordAdmin):
    list_display = ["name", "domain", "industry", "organization_name", "updated_at"]
    search_fields = ["name", "domain", "organization__name"]
    raw_id_fields = ["organization", "owner"]


@admin.register(Contact)
class ContactAdmin(RecordAdmin):
    list_display = ["last_name", "first_name", "email", "account", "organization_name"]
    list_select_related = ["organization", "account"]
    search_fields = ["last_name", "first_name", "email", "account__name"]
    raw_id_fields = ["organization", "account"]


class LineItemInline(admin.TabularInline):
    model = OpportunityLineItem
    raw_id_fields = ["product", "organization"]
    readonly_fields = ["total_price"]
    extra = 0


@admin.register(Opportunity)
class OpportunityAdmin(RecordAdmin):
    list_display = ["name", "account", "stage", "amount", "close_date", "organization_name"]
    list_select_related = ["organization", "account"]
    search_fields = ["name", "account__name"]
    raw_id_fields = ["organization", "account", "owner"]
    inlines = [LineItemInline]


@admin.register(Product)
class ProductAdmin(RecordAdmin):
    list_display = ["name", "product_code", "family", "is_active", "organization_name"]
    search_fields = ["name", "product_code"]


@admin.register(Lead)
class LeadAdmin(RecordAdmin):
    list_display = ["last_name", "first_name", "company", "email", "status", "organization_name"]
    search_fields = ["last_name", "first_name", "company", "email"]
    raw_id_fields = ["organization", "owner"]


@admin.register(FieldChange)
class FieldChangeAdmin(RoxModelAdmin):
    list_display = ["changed_at", "object_type", "record_id", "field", "actor_kind", "actor_label"]
    list_filter = ["object_type", "actor_kind"]
    search_fields = ["field", "actor_label"]
    raw_id_fields = ["organization", "actor_user"]

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_add_permission(self, request: object) -> bool:
        return False
