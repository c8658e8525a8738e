"""Settings → Integrations → Salesforce → CRM Mappings: the four tabs, + Add Field, and the schema refresh.

Pages read the org's schema from the describe cache (no Salesforce call per view); every change goes through
``mappings.services`` (validated against that schema, recorded) and then re-evaluates the connection, so a mapping
that the schema broke, and then was fixed, clears Action Required.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse

from integrations import objects, schema, services
from integrations.models import SalesforceConnection
from integrations.salesforce.errors import SalesforceError
from integrations.schedules import schedules_sync
from mappings import services as mapping_services
from mappings.forms import (
    ActivitySwitchesForm,
    AddFieldForm,
    FieldMappingForm,
    ObjectSettingsForm,
    RowForm,
    StaticValueForm,
)
from mappings.metadata import RoxField, SalesforceObject, rox_fields, salesforce_object
from mappings.models import ActivitySettings, FieldMapping, MappingChange, ObjectMapping, StaticValue, Tab
from mappings.validation import (
    ERROR,
    WARNING,
    field_mapping_findings,
    field_status,
    static_value_findings,
    writeback_blockers,
)
from roxcrm.models import CustomField
from roxcrm.objects import is_standard
from roxcrm.tenancy import member_required, org_admin_required


@dataclass
class Row:
    mapping: FieldMapping
    rox: RoxField | None
    status: str
    reason: str
    warnings: list[str]
    missing_options: tuple[str, ...]
    form: RowForm


@dataclass
class Section:
    object_mapping: ObjectMapping
    sf_object: SalesforceObject | None
    settings_form: ObjectSettingsForm
    blockers: list[str]
    basic_rows: list[Row] = field(default_factory=list)
    custom_rows: list[Row] = field(default_factory=list)
    add_form: FieldMappingForm | None = None
    statics: list[StaticValue] = field(default_factory=list)
    static_form: StaticValueForm | None = None
    unmapped: list[Any] = field(default_factory=list)
    sync: dict[str, Any] = field(default_factory=dict)  # running: its run; last: the latest run; waiting: fields
    removed: objects.Removed | None = None  # an added object removed since: shown as such, with Restore

    @property
    def added(self) -> bool:
        """An object the organization added (it can be removed; standard objects are paused)."""
        return not is_standard(self.object_mapping.rox_object)


def _tab_or_404(tab: str) -> str:
    if tab not in Tab.values:
        raise Http404("No such tab.")
    return tab


def _redirect_to(request: HttpRequest, tab: str, anchor: str = "") -> HttpResponse:
    url = reverse("mappings_tab", args=[request.org.slug, tab])  # type: ignore[attr-defined]
    return redirect(f"{url}#{anchor}" if anchor else url)


@member_required
def mappings_tab(request: HttpRequest, tab: str) -> HttpResponse:
    """One tab. Members see it read-only; admins change it (POST) and see errors in place, their input kept."""
    tab = _tab_or_404(tab)
    org = request.org  # type: ignore[attr-defined]
    every_mapping = mapping_services.mappings_ensure_defaults(organization=org)
    object_mappings = [m for m in every_mapping if m.tab == tab]
    # The Custom objects tab shows once an object was added to it.
    has_custom = any(m.tab == Tab.CUSTOM for m in every_mapping)
    tabs = [(value, label) for value, label in Tab.choices if value != Tab.CUSTOM or has_custom]
    bound: dict[tuple[str, str], forms.Form] = {}
    if request.method == "POST":
        if not request.membership.is_admin:  # type: ignore[attr-defined]
            raise PermissionDenied("Only organization admins can change mappings.")
        outcome = _apply(request, tab, object_mappings)
        if isinstance(outcome, HttpResponse):
            return outcome
        bound = outcome
    sections = [_section(request, om, bound) for om in object_mappings]
    connection = SalesforceConnection.objects.filter(organization=org).first()
    if connection is not None:
        states = sync_states(connection, [om.sobject for om in object_mappings])
        for section in sections:
            section.sync = states.get(section.object_mapping.sobject, {})
    activity = _activity_panel(request, bound) if tab == Tab.ACTIVITIES else None
    return render(
        request,
        "integrations/mappings_tab.html",
        {
            "tab": "integrations",
            "current_tab": tab,
            "tabs": tabs,
            "sections": sections,
            "connection": connection,
            "refreshed_at": schema.last_refreshed(org),
            "history": _history(org, tab),
            "can_edit": request.membership.is_admin,  # type: ignore[attr-defined]
            "activity": activity,
            "syncing": any(s.sync.get("running") for s in sections),
            # Before Salesforce is connected there is no schema to map against: the tab shows what connecting
            # will do (each object's basic mappings) instead of forms full of fields Rox cannot check.
            "preview_only": connection is None or not connection.sf_org_id,
        },
        status=400 if bound else 200,
    )


def _history(organization: Any, tab: str) -> list[MappingChange]:
    """The tab's latest changes, each with what changed and its before and after in words (Rox fields by their
    labels): ``shown_title``, ``shown_before``, ``shown_after``."""
    changes = list(
        MappingChange.objects.filter(organization=organization, object_mapping__tab=tab).select_related(
            "changed_by", "object_mapping"
        )[:25]
    )
    labels: dict[str, dict[str, str]] = {}
    for change in changes:
        key = change.object_mapping.rox_object if change.object_mapping else ""
        if key not in labels:
            labels[key] = {k: f.label for k, f in rox_fields(organization, key).items()} if key else {}
        change.shown_title = change.title(labels[key])  # type: ignore[attr-defined]
        change.shown_before = change.in_words("before", labels[key])  # type: ignore[attr-defined]
        change.shown_after = change.in_words("after", labels[key])  # type: ignore[attr-defined]
    return changes


def _section(request: HttpRequest, om: ObjectMapping, bound: dict[tuple[str, str], forms.Form]) -> Section:
    org = request.org  # type: ignore[attr-defined]
    sf_object = salesforce_object(org, om.sobject)
    removed = None if is_standard(om.rox_object) else objects.removed_object(org, om.sobject)
    if removed is not None:
        # Removed from Rox: nothing to change or sync; its mappings come back as they were with Restore.
        return Section(om, sf_object, ObjectSettingsForm(writeback_blockers=[], read_only=True), [], removed=removed)
    fields = rox_fields(org, om.rox_object, user=request.user)  # type: ignore[arg-type]
    blockers = writeback_blockers(om, sf_object)
    settings_form = bound.get(("settings", str(om.code))) or ObjectSettingsForm(
        initial={
            "sync_enabled": om.sync_enabled,
            "sync_frequency": om.sync_frequency,
            "new_entity_writeback": om.new_entity_writeback,
        },
        writeback_blockers=blockers,
        read_only=om.read_only,
        prefix=om.sobject,
    )
    section = Section(om, sf_object, settings_form, blockers)
    section.statics = list(om.static_values.all())
    for static in section.statics:
        # One saved before a rule refused it (or through the database) is shown with why it is not applied.
        problems = [f.message for f in static_value_findings(static, sf_object) if f.level == ERROR]
        static.problem = problems[0] if problems else ""  # type: ignore[attr-defined]
    overridden = {s.sf_field: s.shown_value for s in section.statics}
    mapped = set()
    for mapping in om.field_mappings.all():
        mapped.add(mapping.sf_field)
        status, reason = field_status(mapping, sf_object, fields)
        if status == "syncing" and mapping.sf_field in overridden:
            reason = f"Overridden by the static value {overridden[mapping.sf_field]}."
        findings = field_mapping_findings(mapping, sf_object, fields) if sf_object else []
        row = Row(
            mapping=mapping,
            rox=fields.get(mapping.rox_field),
            status=status,
            reason=reason,
            warnings=[f.message for f in findings if f.level == WARNING],
            missing_options=next((f.missing_options for f in findings if f.missing_options), ()),
            form=bound.get(("row", str(mapping.code)))
            or RowForm(sf_object=sf_object, mapping=mapping, prefix=f"row-{mapping.code}"),
        )
        (section.basic_rows if mapping.is_basic else section.custom_rows).append(row)
    section.add_form = bound.get(("add_mapping", str(om.code))) or FieldMappingForm(
        sf_object=sf_object, rox_fields=fields, read_only=om.read_only, prefix=f"add-{om.code}"
    )
    mapped |= set(overridden)
    if not om.read_only:
        section.static_form = bound.get(("add_static", str(om.code))) or StaticValueForm(
            sf_object=sf_object, prefix=f"static-{om.code}"
        )
    if sf_object is not None:
        section.unmapped = [f for f in sf_object.sorted_fields() if f.name not in mapped and f.name != "Id"]
    return section


def _apply(
    request: HttpRequest, tab: str, object_mappings: list[ObjectMapping]
) -> HttpResponse | dict[tuple[str, str], forms.Form]:
    """Carry out one change. A redirect when it worked; otherwise the bound form with its errors."""
    action, target = request.POST.get("action", ""), request.POST.get("target", "")
    by_code = {str(om.code): om for om in object_mappings}
    org = request.org  # type: ignore[attr-defined]
    user = request.user
    form: forms.Form | None = None
    try:
        if action == "settings" and target in by_code:
            om = by_code[target]
            form = ObjectSettingsForm(request.POST, writeback_blockers=[], read_only=om.read_only, prefix=om.sobject)
            if form.is_valid():
                mapping_services.object_mapping_settings(
                    object_mapping=om,
                    user=user,
                    sync_enabled=form.cleaned_data["sync_enabled"],
                    sync_frequency=form.cleaned_data["sync_frequency"],
                    new_entity_writeback=form.cleaned_data.get("new_entity_writeback", False),
                )
                messages.success(request, f"{om.sobject}: settings saved.")
        elif action == "add_mapping" and target in by_code:
            om = by_code[target]
            form = FieldMappingForm(
                request.POST,
                sf_object=salesforce_object(org, om.sobject),
                rox_fields=rox_fields(org, om.rox_object, user=user),
                read_only=om.read_only,
                prefix=f"add-{om.code}",
            )
            if form.is_valid():
                mapping = FieldMapping(object_mapping=om, is_basic=False, **form.cleaned_data)
                mapping_services.field_mapping_save(mapping=mapping, user=user)
                messages.success(request, f"Mapped {om.sobject}.{mapping.sf_field}.")
        elif action in ("update_row", "remove_row", "add_options"):
            mapping = get_object_or_404(FieldMapping, code=target, object_mapping__in=object_mappings)
            if action == "remove_row":
                mapping_services.field_mapping_remove(mapping=mapping, user=user)
                messages.success(
                    request, f"Removed the mapping of {mapping.object_mapping.sobject}.{mapping.sf_field}."
                )
            elif action == "add_options":
                _add_missing_options(request, mapping)
            else:
                form = RowForm(
                    request.POST,
                    sf_object=salesforce_object(org, mapping.object_mapping.sobject),
                    mapping=mapping,
                    prefix=f"row-{mapping.code}",
                )
                if form.is_valid():
                    mapping.sf_field = form.cleaned_data.get("sf_field") or mapping.sf_field
                    mapping.rule = form.cleaned_data.get("rule") or mapping.rule
                    mapping_services.field_mapping_save(mapping=mapping, user=user)
                    messages.success(request, f"Saved {mapping.object_mapping.sobject}.{mapping.sf_field}.")
        elif action == "sync_now" and target in by_code:
            om = by_code[target]
            connection = SalesforceConnection.objects.filter(organization=org).first()
            if connection is None or not connection.is_signed_in:
                messages.error(request, "Connect Salesforce first: there is nothing to sync from.")
            elif not om.sync_enabled:
                messages.error(request, f"{om.sobject}'s sync is paused: switch it on first.")
            else:
                services.sync_now(connection=connection, sobject=om.sobject, user=user)
                messages.success(request, f"{om.sobject}: sync started. Its progress shows below.")
        elif action == "activity_switches":
            current = ActivitySettings.for_organization(org)
            form = ActivitySwitchesForm(request.POST, instance=current, blockers=activity_blockers(org))
            if form.is_valid():
                mapping_services.activity_settings_save(settings_row=form.save(commit=False), user=user)
                messages.success(request, "Activity writeback settings saved.")
        elif action == "add_static" and target in by_code:
            om = by_code[target]
            form = StaticValueForm(
                request.POST, sf_object=salesforce_object(org, om.sobject), prefix=f"static-{om.code}"
            )
            if form.is_valid():
                static = StaticValue(object_mapping=om, **form.cleaned_data)
                mapping_services.static_value_save(static=static, user=user)
                messages.success(request, f"{om.sobject}.{static.sf_field} will be set to {static.shown_value}.")
        elif action == "remove_static":
            static = get_object_or_404(StaticValue, code=target, object_mapping__in=object_mappings)
            mapping_services.static_value_remove(static=static, user=user)
            messages.success(request, f"Removed the static value of {static.object_mapping.sobject}.{static.sf_field}.")
        else:
            messages.error(request, "That change could not be understood; nothing was saved.")
            return _redirect_to(request, tab)
    except ValidationError as exc:
        if form is None:
            messages.error(request, " ".join(exc.messages))
            return _redirect_to(request, tab)
        _attach(form, exc)
    if form is not None and form.errors:
        key = "row" if action == "update_row" else action
        # Shown at the top, where the page opens, as well as beside the form (which the page scrolls to).
        messages.error(request, "Not saved: the change below has a problem; nothing else changed.")
        return {(key, "" if action == "activity_switches" else target): form}
    _reevaluate(request)
    # Back to the change that was made (its row, or its object's section), not the top of the tab.
    return _redirect_to(request, tab, f"row-{target}" if action in ("update_row", "add_options") else target)


def activity_blockers(organization: Any) -> dict[str, list[str]]:
    """Why each activity switch cannot be turned on: the prerequisite checks for Task (or Event, for meetings)
    access and RoxActivityId__c."""
    from mappings.metadata import prerequisite_blockers

    task, event = prerequisite_blockers(organization, "Task"), prerequisite_blockers(organization, "Event")
    switches = {name: task for name in ActivitySettings.SWITCHES.values()}
    switches["meeting_writeback"] = event
    switches["lead_resolution"] = []
    return switches


def _activity_panel(request: HttpRequest, bound: dict[tuple[str, str], forms.Form]) -> dict[str, Any]:
    """The switches, what was written in the last 24 hours and 7 days per type, and the latest errors."""
    import datetime as dt

    from django.db.models import Count
    from django.utils import timezone

    from activities.models import Activity
    from integrations.models import OutboxEntry, SyncError

    org = request.org  # type: ignore[attr-defined]
    form = bound.get(("activity_switches", "")) or ActivitySwitchesForm(
        instance=ActivitySettings.for_organization(org), blockers=activity_blockers(org)
    )
    if not request.membership.is_admin:  # type: ignore[attr-defined]
        for form_field in form.fields.values():
            form_field.disabled = True
    now = timezone.now()
    written: dict[str, dict[str, int]] = {t: {"day": 0, "week": 0} for t, _ in Activity.Type.choices if t != "task"}
    for window, since in (("day", now - dt.timedelta(days=1)), ("week", now - dt.timedelta(days=7))):
        done = OutboxEntry.objects.filter(
            organization=org, rox_object="activity", state=OutboxEntry.State.DONE, done_at__gte=since
        ).values("record_id")
        for row in Activity.objects.filter(pk__in=done).values("type").annotate(n=Count("id")):
            written.setdefault(row["type"], {"day": 0, "week": 0})[window] = row["n"]
    labels = dict(Activity.Type.choices)
    errors = SyncError.objects.filter(organization=org, rox_object="activity", direction="outbound", resolved_at=None)[
        :10
    ]
    return {
        "form": form,
        "written": [(labels.get(t, t), counts) for t, counts in written.items()],
        "errors": list(errors),
    }


def _attach(form: forms.Form, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for name, messages_ in error.message_dict.items():
            target = name if name in form.fields else None
            for message in messages_:
                form.add_error(target, message)
    else:
        for message in error.messages:
            form.add_error(None, message)


def _add_missing_options(request: HttpRequest, mapping: FieldMapping) -> None:
    """The one-click fix: add the Salesforce picklist values the mapped Rox picklist lacks."""
    if not mapping.rox_field.startswith("custom."):
        messages.error(request, "Only a custom Rox picklist can take new options.")
        return
    org = request.org  # type: ignore[attr-defined]
    definition = get_object_or_404(
        CustomField,
        organization=org,
        object_type=mapping.object_mapping.rox_object,
        api_name=mapping.rox_field.removeprefix("custom."),
    )
    sf_object = salesforce_object(org, mapping.object_mapping.sobject)
    sf = sf_object.fields.get(mapping.sf_field) if sf_object else None
    if sf is None:
        messages.error(request, "Salesforce's field is not known; refresh the schema first.")
        return
    before = len(definition.options)
    mapping_services.picklist_add_options(definition=definition, options=sf.picklist_values, user=request.user)
    messages.success(request, f"Added {len(definition.options) - before} option(s) to {definition.label}.")


def _reevaluate(request: HttpRequest) -> None:
    connection = SalesforceConnection.objects.filter(organization=request.org).first()  # type: ignore[attr-defined]
    if connection is not None:
        services.connection_evaluate(connection)
        connection.save(update_fields=["status", "action_reason"])
        schedules_sync(connection)


@org_admin_required
def mappings_add_field(request: HttpRequest, tab: str, code: str) -> HttpResponse:
    """+ Add Field: pick a Salesforce field, then name the new Rox field (type, length and options follow
    Salesforce's), choose who may edit and see it, and map it in one go."""
    tab = _tab_or_404(tab)
    org = request.org  # type: ignore[attr-defined]
    om = get_object_or_404(ObjectMapping, organization=org, code=code, tab=tab)
    sf_object = salesforce_object(org, om.sobject)
    if sf_object is None:
        messages.error(request, "Connect Salesforce (or refresh its schema) before adding fields from it.")
        return _redirect_to(request, tab)
    sf_name = request.POST.get("sf_field") or request.GET.get("sf_field", "")
    sf = sf_object.fields.get(sf_name)
    if sf is None:
        mapped = set(om.field_mappings.values_list("sf_field", flat=True))
        choices = [f for f in sf_object.sorted_fields() if f.name not in mapped and f.name != "Id"]
        return render(
            request,
            "integrations/mappings_add_field.html",
            {"tab": "integrations", "current_tab": tab, "om": om, "choices": choices, "sf": None},
        )
    draft = mapping_services.custom_field_draft(organization=org, object_type=om.rox_object, sf=sf)
    form = AddFieldForm(
        request.POST if request.method == "POST" else None,
        initial={"label": draft.label, "data_type": draft.data_type},
        sf_type=sf.type,
        read_only=om.read_only or sf.read_only_in_salesforce,
    )
    if request.method == "POST" and form.is_valid():
        draft.label = form.cleaned_data["label"]
        draft.data_type = form.cleaned_data["data_type"]
        draft.editable_in_rox = form.cleaned_data["editable_in_rox"]
        draft.visibility = form.cleaned_data["visibility"]
        draft.api_name = mapping_services.free_api_name(organization=org, object_type=om.rox_object, label=draft.label)
        if draft.data_type not in ("picklist", "multi_picklist"):
            draft.options = []
        try:
            mapping_services.custom_field_create_and_map(
                object_mapping=om, field=draft, sf_field=sf.name, rule=form.cleaned_data["rule"], user=request.user
            )
        except ValidationError as exc:
            _attach(form, exc)
        else:
            _reevaluate(request)
            messages.success(request, f"Created the Rox field “{draft.label}” and mapped it to {om.sobject}.{sf.name}.")
            return _redirect_to(request, tab)
    return render(
        request,
        "integrations/mappings_add_field.html",
        {"tab": "integrations", "current_tab": tab, "om": om, "sf": sf, "form": form, "draft": draft},
    )


@org_admin_required
def mappings_refresh(request: HttpRequest) -> HttpResponse:
    """Re-read the org's schema now (one Composite call for up to 25 objects) and re-check every mapping."""
    tab = request.POST.get("tab") if request.POST.get("tab") in Tab.values else Tab.ACCOUNTS
    connection = SalesforceConnection.objects.filter(organization=request.org).first()  # type: ignore[attr-defined]
    if request.method != "POST" or connection is None or not connection.is_signed_in:
        messages.error(request, "Salesforce is not connected.")
        return _redirect_to(request, tab)
    try:
        calls = schema.describe_refresh(connection)
    except SalesforceError as exc:
        messages.error(request, f"Could not read the schema: {exc}")
        return _redirect_to(request, tab)
    services.connection_evaluate(connection)
    connection.save(update_fields=["status", "action_reason"])
    broken = schema.broken_mappings(connection.organization)
    if broken:
        messages.warning(
            request,
            f"Schema refreshed ({calls} API call{'s' if calls != 1 else ''}); {len(broken)} mapping(s) are broken.",
        )
    else:
        messages.success(
            request, f"Schema refreshed ({calls} API call{'s' if calls != 1 else ''}); every mapping works."
        )
    return _redirect_to(request, tab)


@org_admin_required
def mappings_add_object(request: HttpRequest) -> HttpResponse:
    """+ Add object: choose one of the org's objects (describeGlobal: custom ones first), then the fields to map
    (its lookups to objects Rox syncs are proposed) and the rule; nothing syncs until the admin adds it. An object
    removed before is restored as it was (``objects.object_add``): the page lists its records and earlier mappings
    instead of offering choices, and the message after says what came back."""
    org = request.org  # type: ignore[attr-defined]
    connection = SalesforceConnection.objects.filter(organization=org).first()
    if connection is None or not connection.is_signed_in:
        messages.error(request, "Connect Salesforce before adding objects from it.")
        return _redirect_to(request, Tab.ACCOUNTS)
    sobject = (request.POST.get("sobject") or request.GET.get("sobject", "")).strip()
    context: dict[str, Any] = {
        "tab": "integrations",
        "current_tab": Tab.CUSTOM,
        "rules": FieldMapping.Rule.choices,
        "tabs": [(value, label) for value, label in Tab.choices if value != Tab.ACTIVITIES],
    }
    removed = objects.removed_object(org, sobject) if sobject else None
    if removed is not None:
        return _restore_object(request, connection, removed, context)
    try:
        if not sobject:
            context["addable"] = objects.addable_objects(connection)
            return render(request, "integrations/mappings_add_object.html", context)
        preview = objects.object_preview(connection, sobject)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(reverse("mappings_add_object", args=[org.slug]))
    except SalesforceError as exc:
        messages.error(request, f"Salesforce did not answer: {exc}")
        return _redirect_to(request, Tab.ACCOUNTS)
    context.update(preview=preview, sobject=sobject)
    if request.method == "POST":
        chosen = request.POST.getlist("fields")
        rule = request.POST.get("rule", FieldMapping.Rule.READ_ONLY)
        tab = request.POST.get("tab", Tab.CUSTOM)
        try:
            objects.object_add(connection, sobject, fields=chosen, rule=rule, tab=tab, user=request.user)
        except ValidationError as exc:
            context["error"] = " ".join(exc.messages)
            context["chosen"] = set(chosen)
            return render(request, "integrations/mappings_add_object.html", context, status=400)
        messages.success(
            request,
            f"{preview.label} added: its records are read in the background within a minute (see Sync health).",
        )
        return _redirect_to(request, tab)
    context["chosen"] = {f.name for f in preview.proposed}
    return render(request, "integrations/mappings_add_object.html", context)


def _restore_object(
    request: HttpRequest, connection: SalesforceConnection, removed: objects.Removed, context: dict[str, Any]
) -> HttpResponse:
    """+ Add object for an object removed before: what adding it again restores, then Restore."""
    if request.method != "POST":
        return render(request, "integrations/mappings_add_object.html", {**context, "removed": removed})
    try:
        objects.object_add(connection, removed.sobject, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(reverse("mappings_add_object", args=[request.org.slug]))  # type: ignore[attr-defined]
    ignored = (
        " The fields and rule on the form were not applied: change the mappings below."
        if (request.POST.getlist("fields") or request.POST.get("rule"))
        else ""
    )
    messages.success(
        request,
        f"{removed.label} restored: its {removed.records} record{pluralize(removed.records)} and its earlier "
        f"mappings ({'; '.join(removed.mappings)}) are back; Salesforce's changes since are read in the background "
        f"within a minute.{ignored}",
    )
    return _redirect_to(request, removed.tab)


@org_admin_required
def mappings_remove_object(request: HttpRequest, code: str) -> HttpResponse:
    """Remove an added object: its sync stops and its records are kept (archived, restored by adding it again),
    unless the admin also ticks the second confirmation to delete them."""
    from roxcrm.models import ObjectDefinition, ObjectRecord

    org = request.org  # type: ignore[attr-defined]
    om = get_object_or_404(ObjectMapping, organization=org, code=code)
    definition = ObjectDefinition.objects.filter(organization=org, key=om.rox_object).first()
    if definition is None:
        raise Http404("Only objects added to Rox can be removed; standard objects are paused.")
    count = ObjectRecord.objects.filter(organization=org, object_type=definition.key).count()
    context = {"tab": "integrations", "current_tab": om.tab, "om": om, "definition": definition, "count": count}
    if request.method == "POST":
        delete_records = request.POST.get("delete_records") == "on"
        if delete_records and request.POST.get("confirm") != definition.sobject:
            context["error"] = f"To delete the records too, type {definition.sobject} to confirm."
            return render(request, "integrations/mappings_remove_object.html", context, status=400)
        connection = SalesforceConnection.objects.get(organization=org)
        objects.object_remove(connection, om.sobject, delete_records=delete_records, user=request.user)
        kept = "deleted" if delete_records else "kept (add the object again to restore them)"
        messages.success(request, f"{definition.label} removed from Rox; its {count} records {kept}.")
        return _redirect_to(request, Tab.CUSTOM if not delete_records else Tab.ACCOUNTS)
    return render(request, "integrations/mappings_remove_object.html", context)


def sync_states(connection: SalesforceConnection, sobjects: list[str]) -> dict[str, dict[str, Any]]:
    """Per object: the inbound run going on (with its progress), the latest one, and the fields waiting to be
    filled on existing records, in two queries."""
    from integrations.models import SyncCursor, SyncRun

    states: dict[str, dict[str, Any]] = {s: {} for s in sobjects}
    for cursor in SyncCursor.objects.filter(connection=connection, sobject__in=sobjects).select_related("last_run"):
        states[cursor.sobject].update(waiting=list(cursor.backfill_fields or []), last=cursor.last_run)
    running = SyncRun.objects.filter(
        connection=connection, kind=SyncRun.Kind.INBOUND, outcome=SyncRun.Outcome.RUNNING, sobject__in=sobjects
    )
    for run in running:
        total = (run.counts or {}).get("total")
        fetched = (run.counts or {}).get("fetched", 0)
        run.percent = round(100 * fetched / total) if total else None  # type: ignore[attr-defined]
        states[run.sobject]["running"] = run
    return states


@org_admin_required
def mappings_resync(request: HttpRequest) -> HttpResponse:
    """Resync everything: re-read every enabled object in full, parents first, after a confirmation that shows
    what it costs (the API calls, estimated from each object's last count)."""
    org = request.org  # type: ignore[attr-defined]
    connection = SalesforceConnection.objects.filter(organization=org).first()
    if connection is None or not connection.is_signed_in:
        messages.error(request, "Connect Salesforce first: there is nothing to sync from.")
        return redirect("salesforce_overview", org.slug)
    estimate = services.resync_estimate(connection)
    if request.method == "POST":
        if request.POST.get("confirm") != "on":
            messages.error(request, "Tick the box to confirm the full resync; nothing was started.")
        else:
            services.resync_start(connection=connection, user=request.user)
            messages.success(request, "Full resync started: every object is read again, parents first.")
            return redirect("mappings_tab", org.slug, request.POST.get("tab") or Tab.ACCOUNTS)
    return render(
        request,
        "integrations/mappings_resync.html",
        {"tab": "integrations", "connection": connection, "estimate": estimate, "back": request.GET.get("tab", "")},
    )
