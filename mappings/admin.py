"""Mappings in the Django admin: the same validation as the pages (model ``clean``) and the same services, so
every change is recorded in the mapping history."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from mappings import services
from mappings.models import FieldMapping, MappingChange, ObjectMapping, StaticValue
from roxcrm.admin import RoxModelAdmin


class FieldMappingFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        for form in self.forms:
            if form.cleaned_data.get("DELETE") and form.instance.is_basic:
                raise forms.ValidationError(
                    f"{form.instance.sf_field} is a basic field: Rox uses it to find and link records, so it cannot be "
                    "removed (point it at another Salesforce field instead)."
                )


class FieldMappingInline(admin.TabularInline):
    model = FieldMapping
    formset = FieldMappingFormSet
    extra = 0
    fields = ["sf_field", "rox_field", "rule", "is_basic"]
    readonly_fields = ["is_basic"]


class StaticValueInline(admin.TabularInline):
    model = StaticValue
    extra = 0
    fields = ["sf_field", "value", "clear_field", "when"]


@admin.register(ObjectMapping)
class ObjectMappingAdmin(RoxModelAdmin):
    list_display = [
        "sobject",
        "rox_object",
        "tab",
        "organization",
        "sync_enabled",
        "sync_frequency",
        "new_entity_writeback",
    ]
    list_filter = ["tab", "sync_enabled", "new_entity_writeback"]
    list_select_related = ["organization"]
    search_fields = ["sobject", "organization__name"]
    raw_id_fields = ["organization"]
    readonly_fields = ["organization", "sobject", "rox_object", "tab", "read_only"]
    fields = [*readonly_fields, "sync_enabled", "sync_frequency", "new_entity_writeback"]
    inlines = [FieldMappingInline, StaticValueInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Objects come from the defaults (one per synced Salesforce object); only their settings change here.
        return False

    def save_model(self, request: HttpRequest, obj: ObjectMapping, form: forms.ModelForm, change: bool) -> None:
        services.object_mapping_settings(
            object_mapping=obj,
            user=request.user,
            sync_enabled=obj.sync_enabled,
            sync_frequency=obj.sync_frequency,
            new_entity_writeback=obj.new_entity_writeback,
        )

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool) -> None:
        instances = formset.save(commit=False)
        for deleted in formset.deleted_objects:
            if isinstance(deleted, FieldMapping):
                services.field_mapping_remove(mapping=deleted, user=request.user)
            else:
                services.static_value_remove(static=deleted, user=request.user)
        for instance in instances:
            if isinstance(instance, FieldMapping):
                services.field_mapping_save(mapping=instance, user=request.user)
            else:
                services.static_value_save(static=instance, user=request.user)


@admin.register(MappingChange)
class MappingChangeAdmin(RoxModelAdmin):
    list_display = ["changed_at", "organization", "summary", "changed_by"]
    list_select_related = ["organization", "changed_by"]
    search_fields = ["summary", "organization__name"]
    raw_id_fields = ["organization", "object_mapping", "changed_by"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
