"""List, detail, create and edit pages shared by every kind of record. Each URL passes its ``RecordType``."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import models
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString

from roxcrm import custom_fields, hooks, objects, services
from roxcrm.forms import CUSTOM_FORM_PREFIX, OwnerlessObjectRecordForm, RecordForm
from roxcrm.models import CustomField, FieldChange, ObjectDefinition, ObjectRecord, User
from roxcrm.record_types import RecordType, Related, added_record_type
from roxcrm.services import Actor, StaleRecordError
from roxcrm.templatetags.rox import field_label, field_value
from roxcrm.tenancy import get_object_for_member, member_required

# How many of an added object's fields its list shows besides its name (and owner): its Links first.
LIST_CUSTOM_COLUMNS = 4


def _list(request: HttpRequest, spec: RecordType) -> HttpResponse:
    queryset = spec.queryset(request.org)
    query = request.GET.get("q", "").strip()
    if query:
        queryset = spec.search(queryset, query)
    filters = _list_filters(request, spec)
    for condition in filters.conditions:
        queryset = queryset.filter(condition)
    queryset = queryset.order_by(*filters.order)
    page = Paginator(queryset, settings.PAGINATE_BY).get_page(request.GET.get("page"))
    columns, rows = _list_table(request, spec, list(page.object_list))
    urls = spec.urls(request.org.slug)
    if filters.links:  # "New project" from a list of one account's projects starts with that account
        urls["create"] += "?" + urlencode({definition.api_name: code for definition, code, _ in filters.links})
    return render(
        request,
        "roxcrm/record_list.html",
        {
            "spec": spec,
            "page": page,
            "query": query,
            "columns": columns,
            "rows": rows,
            "urls": urls,
            "filters": filters,
            "archived": _archived(spec),
        },
    )


@dataclass(frozen=True)
class Column:
    label: str
    numeric: bool = False


def _list_table(
    request: HttpRequest, spec: RecordType, records: list[Any]
) -> tuple[list[Column], list[list[tuple[str, Column]]]]:
    """A list's columns and each record's cells (HTML): its first column linked to its page, then for an added
    object its first few fields as its page shows them (Link fields first, as the linked record's name), then the
    other columns."""
    first, *others = spec.list_columns
    custom = _list_custom_fields(request, spec)
    columns = [
        Column(field_label(spec.model, first)),
        *(Column(d.label, d.data_type in CustomField.NUMERIC_TYPES) for d in custom),
        *(Column(field_label(spec.model, name)) for name in others),
    ]
    linked = _linked_records(request, [(d, (r.custom_values or {}).get(d.api_name)) for d in custom for r in records])
    rows = []
    for record in records:
        record.organization = request.org  # its page's address needs the organization's slug: no query per row
        stored = record.custom_values or {}
        cells = [format_html('<a href="{}">{}</a>', record.get_absolute_url(), field_value(record, first))]
        cells += [_custom_cell(d, stored.get(d.api_name), linked) for d in custom]
        cells += [conditional_escape(field_value(record, name)) for name in others]
        rows.append(list(zip(cells, columns, strict=True)))
    return columns, rows


def _list_custom_fields(request: HttpRequest, spec: RecordType) -> list[CustomField]:
    """The fields of an added object its list shows: up to ``LIST_CUSTOM_COLUMNS`` the person may see, its Link
    fields first, then the others in their order (long texts are for its page)."""
    if spec.definition is None:
        return []
    shown = [
        d
        for d in custom_fields.definitions_for(request.org, spec.key)  # type: ignore[attr-defined]
        if d.visible_to(request.user) and d.data_type != CustomField.DataType.LONG_TEXT
    ]
    links = [d for d in shown if d.data_type == CustomField.DataType.LINK]
    return [*links, *(d for d in shown if d.data_type != CustomField.DataType.LINK)][:LIST_CUSTOM_COLUMNS]


def _linked_records(request: HttpRequest, values: list[tuple[CustomField, Any]]) -> dict[tuple[str, Any], Any]:
    """The records Link values hold, by (target object, id), read in one query per target object."""
    wanted: dict[str, set[Any]] = {}
    for definition, stored in values:
        if (
            definition.data_type == CustomField.DataType.LINK
            and isinstance(stored, int)
            and not isinstance(stored, bool)
        ):
            wanted.setdefault(definition.target, set()).add(stored)
    found = {}
    for target, ids in wanted.items():
        for linked in objects.records_of(request.org, target).filter(pk__in=ids):
            linked.organization = request.org
            found[(target, linked.pk)] = linked
    return found


def _custom_cell(definition: CustomField, stored: Any, linked: dict[tuple[str, Any], Any]) -> str:
    """A custom value in a list's cell: as the record's page shows it, a Link as the linked record's name."""
    if stored is None:
        return SafeString('<span class="muted">—</span>')
    if definition.data_type == CustomField.DataType.LINK:
        record = linked.get((definition.target, stored))
        if record is None:  # gone from Rox since (rare: the text reads it again)
            return format_html('<span class="muted">{}</span>', custom_fields.display_value(definition, stored))
        return format_html('<a href="{}">{}</a>', record.get_absolute_url(), record)
    return conditional_escape(custom_fields.display_value(definition, stored))


@dataclass
class ListFilters:
    """A list's filters and order as the query string gives them: ``owner`` (a member's id), a Link field of an
    added object by the linked record's code (``?account=<code>``), and ``sort`` (a column, ``-`` for descending).
    A value that names nothing is shown as ignored, never a server error."""

    owners: list[Any] = field(default_factory=list)
    owner: str = ""
    links: list[tuple[CustomField, str, str]] = field(default_factory=list)  # (field, code given, linked record)
    sortable: list[tuple[str, str]] = field(default_factory=list)
    sort: str = ""
    conditions: list[Q] = field(default_factory=list)
    order: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    narrowed_by: list[str] = field(default_factory=list)  # the owner and links that narrow the list, for people
    params: str = ""  # the filters and order as a query string, for the pages' links


def _list_filters(request: HttpRequest, spec: RecordType) -> ListFilters:
    found = ListFilters()
    model_fields = {f.name for f in spec.model._meta.concrete_fields}
    kept: dict[str, str] = {}
    if "owner" in model_fields and "owner" in (*spec.list_columns, *spec.detail_fields):  # an added one may have none
        found.owners = list(User.objects.filter(memberships__organization=request.org).order_by("email"))  # type: ignore[attr-defined]
        wanted = request.GET.get("owner", "").strip()
        if wanted:
            match = next((u for u in found.owners if str(u.pk) == wanted), None)
            if match is None:
                found.ignored.append("owner (no such member)")
            else:
                found.owner, kept["owner"] = wanted, wanted
                found.narrowed_by.append(f"Owner: {match.full_name or match.email}")
                found.conditions.append(Q(owner=match))
    definitions = custom_fields.definitions_for(request.org, spec.key)  # type: ignore[attr-defined]
    for definition in definitions:
        if definition.data_type != CustomField.DataType.LINK or not definition.visible_to(request.user):
            continue
        code = request.GET.get(definition.api_name, "").strip()
        if not code:
            continue
        linked = objects.record_by_code(request.org, definition.target, code)  # type: ignore[attr-defined]
        if linked is None:
            found.ignored.append(f"{definition.label} (no such record)")
            continue
        found.links.append((definition, code, str(linked)))
        found.narrowed_by.append(f"{definition.label}: {linked}")
        kept[definition.api_name] = code
        found.conditions.append(custom_fields.holding(definition.api_name, linked.pk))
    found.sortable = [(name, name) for name in spec.list_columns if name in model_fields] + [("updated_at", "updated")]
    sort = request.GET.get("sort", "").strip()
    column = sort.removeprefix("-")
    if column in {name for name, _ in found.sortable}:
        found.sort, kept["sort"] = sort, sort
        found.order = [sort, "-id" if sort.startswith("-") else "id"]
    elif sort:
        found.ignored.append("sort (not a column)")
    if not found.order:
        found.order = [*spec.model._meta.ordering] or ["-updated_at", "-id"]
    found.params = urlencode(kept)
    return found


def _get(request: HttpRequest, spec: RecordType, code: str) -> Any:
    """The record with ``code`` of this organization and this kind (404 otherwise: a project's code under another
    added object's pages names no record there)."""
    record = get_object_for_member(request, spec.model, code)
    if spec.definition is not None and record.object_type != spec.definition.key:
        raise Http404("No such record.")
    return record


def _detail(request: HttpRequest, code: str, spec: RecordType) -> HttpResponse:
    record = _get(request, spec, code)
    stored = record.custom_values or {}
    definitions = [
        definition
        for definition in custom_fields.definitions_for(request.org, record.object_type)
        if definition.visible_to(request.user)
    ]
    custom_rows = [_custom_row(request, definition, stored.get(definition.api_name)) for definition in definitions]
    related = []
    for section in spec.related:
        present = getattr(record, section.accessor).filter(removed_at=None)
        related.append({"section": section, "rows": list(present[:20]), "count": present.count()})
    # Records of added objects whose Link fields point here (an account's projects).
    for linked in objects.linked_to(request.org, record):
        columns = ("name", "owner") if objects.has_owner(request.org, linked.definition.key) else ("name",)
        present = linked.records
        related.append(
            {
                "section": Related(linked.title, "", columns),
                "rows": list(present[:20]),
                "count": present.count(),
                "more": linked.listing,
                "add": _add_linked_url(request, linked, record),
            }
        )
    history = FieldChange.objects.filter(object_type=record.object_type, record_id=record.pk).select_related(
        "actor_user"
    )[:20]
    return render(
        request,
        "roxcrm/record_detail.html",
        {
            "spec": spec,
            "record": record,
            "custom_rows": custom_rows,
            "related": related,
            "history": _visible_history(request, list(history), spec.model, definitions),
            "urls": spec.urls(request.org.slug, record),
            "archived": _archived(spec),
            "editable": not (record.read_only_reason() or record.removed_at or _archived(spec)),
        },
    )


def _add_linked_url(request: HttpRequest, linked: objects.LinkedRecords, parent: Any) -> str:
    """The new-record form of an added object with its Link field set to ``parent`` (a new project of this
    account), or "" when people cannot set that field on the form."""
    link = linked.link
    if not link.editable_in_rox or not link.visible_to(request.user):
        return ""
    blank = ObjectRecord(organization=request.org, definition=linked.definition, object_type=linked.definition.key)
    if f"{services.CUSTOM_PREFIX}{link.api_name}" in hooks.locked_fields(blank, creating=True):
        return ""  # Salesforce sets it (mapped Read Only)
    create = reverse("object_record_create", args=[request.org.slug, linked.definition.key])  # type: ignore[attr-defined]
    return f"{create}?{urlencode({link.api_name: parent.code})}"


def _custom_row(request: HttpRequest, definition: CustomField, stored: Any) -> tuple[CustomField, str, str | None]:
    """A custom field as its record's page shows it: its value as text, and for a Link the linked record's page (the
    record read once, for both)."""
    if definition.data_type == CustomField.DataType.LINK and stored is not None:
        linked = objects.records_of(request.org, definition.target).filter(pk=stored).first()  # type: ignore[attr-defined]
        if linked is not None:
            return definition, str(linked), linked.get_absolute_url()
    return definition, custom_fields.display_value(definition, stored), None


def _visible_history(
    request: HttpRequest, history: list[FieldChange], model: type, definitions: list[CustomField]
) -> list[dict]:
    """The changes people may see (not other people's private custom fields), with field labels, and values as
    the record's page shows them: related and linked records by name, dates and times, numbers with their decimal
    places."""
    by_key = {f"{services.CUSTOM_PREFIX}{d.api_name}": d for d in definitions}
    custom = [c for c in history if c.field in by_key]
    linked = _linked_records(request, [(by_key[c.field], v) for c in custom for v in (c.old_value, c.new_value)])
    rows = []
    names: dict[tuple[type, object], str] = {}
    for change in history:
        if change.field.startswith(services.CUSTOM_PREFIX):
            definition = by_key.get(change.field)
            if definition is None:
                continue
            old, new = (_custom_shown(definition, v, linked) for v in (change.old_value, change.new_value))
            rows.append({"change": change, "label": definition.label, "old": old, "new": new})
            continue
        field = model._meta.get_field(change.field)
        old, new = change.old_value, change.new_value
        if field.is_relation:
            related = field.related_model
            wanted = [v for v in (old, new) if v is not None and (related, v) not in names]
            for obj in related._default_manager.filter(pk__in=wanted):
                names[(related, obj.pk)] = str(obj)
            old, new = (names.get((related, v), v) if v is not None else None for v in (old, new))
        else:
            old, new = (_shown(field, v) for v in (old, new))
        rows.append({"change": change, "label": str(field.verbose_name).capitalize(), "old": old, "new": new})
    return rows


def _custom_shown(definition: CustomField, value: Any, linked: dict[tuple[str, Any], Any]) -> str | None:
    """A custom field's recorded value as its page shows it (a Link by the linked record's name)."""
    if value is None:
        return None
    if definition.data_type == CustomField.DataType.LINK and (definition.target, value) in linked:
        return str(linked[(definition.target, value)])
    return custom_fields.display_value(definition, value) or None


def _shown(field: Any, value: Any) -> Any:
    """A recorded value as people read it: a choice by its label, a list (e-mail addresses, a multi-select) as a
    comma-separated text, a date and time as the pages show it, a decimal with its places."""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or None
    if value is None:
        return None
    if field.choices:
        return dict(field.flatchoices).get(value, value)
    if isinstance(field, models.DateTimeField) and isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is None or timezone.is_naive(parsed):
            return value
        return timezone.localtime(parsed).strftime("%Y-%m-%d %H:%M")
    if isinstance(field, models.DecimalField) and not isinstance(value, bool):
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            return value
        return f"{number:,.2f}" if field.decimal_places else f"{number:,}"
    return value


def _create(request: HttpRequest, spec: RecordType) -> HttpResponse:
    initial = {}
    for parent in spec.prefill_parents:
        code = request.GET.get(parent)
        if code:
            parent_model = spec.model._meta.get_field(parent).related_model
            found = _uuid_or_none(code)
            parents = parent_model.objects.filter(organization=request.org, code=found)
            initial[parent] = parents.first() if found else None
            if initial[parent] is None:
                messages.warning(
                    request,
                    f"There is no {parent_model._meta.verbose_name} with the code in this link; choose one below.",
                )
    presets = _link_presets(request, spec)
    initial |= presets
    form: RecordForm = spec.form_class(
        request.POST or None,
        instance=spec.new_record(request.org),
        initial=initial,
        organization=request.org,
        user=request.user,
    )
    if request.method == "POST" and form.is_valid():
        try:
            record = services.record_create(
                organization=request.org,
                model=spec.model,
                values=form.standard_values(),
                custom_values=_with_presets(form, presets),
                actor=Actor.person(request.user),
                object_type=spec.definition.key if spec.definition else None,
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            # Written to Salesforce at once when new entity writeback is on, as a save is (or the worker does it).
            outcome = hooks.after_save(record)
            suffix = f" — {outcome}" if outcome else ""
            messages.success(request, f"{spec.singular[:1].upper()}{spec.singular[1:]} “{record}” created{suffix}.")
            return redirect(record.get_absolute_url())
    return render(
        request,
        "roxcrm/record_form.html",
        {"spec": spec, "form": form, "record": None, "urls": spec.urls(request.org.slug)},
    )


def _link_presets(request: HttpRequest, spec: RecordType) -> dict[str, Any]:
    """Link fields a new record starts with, from the query string by the linked record's code (``?account=<code>``
    from an account's Projects section, or from the list of that account's projects)."""
    initial: dict[str, Any] = {}
    for definition in custom_fields.definitions_for(request.org, spec.key):  # type: ignore[attr-defined]
        code = request.GET.get(definition.api_name, "").strip()
        if definition.data_type != CustomField.DataType.LINK or not code or not definition.visible_to(request.user):
            continue
        if definition.api_name in spec.prefill_parents:
            continue  # a standard parent of the same name (a contact's account) is the one preset
        linked = objects.record_by_code(request.org, definition.target, code)  # type: ignore[attr-defined]
        if linked is None or linked.removed_at is not None:
            messages.warning(request, f"There is no {definition.label} with the code in this link; choose one below.")
            continue
        initial[CUSTOM_FORM_PREFIX + definition.api_name] = linked
    return initial


def _with_presets(form: RecordForm, presets: dict[str, Any]) -> dict[str, Any]:
    """The custom values of a new record: the ones the person changed, and the Links the link preset that they
    kept (a form counts a value left as it started as unchanged)."""
    values = form.custom_values()
    for name in presets:
        api_name = name.removeprefix(CUSTOM_FORM_PREFIX)
        if name in form.fields and not form.fields[name].disabled and api_name not in values:  # (disabled: read-only)
            values[api_name] = form.cleaned_data.get(name)
    return values


def _edit(request: HttpRequest, code: str, spec: RecordType) -> HttpResponse:
    record = _get(request, spec, code)
    refusal = record.read_only_reason() or _archived(spec)
    if not refusal and record.removed_at is not None:
        refusal = (
            f"{record.removed_reason or 'Removed'}: this {spec.singular.lower()} is kept read-only, with its "
            "history, and cannot be edited."
        )
    if refusal:
        messages.info(request, refusal)
        return redirect(record.get_absolute_url())
    form: RecordForm = spec.form_class(
        request.POST or None, instance=record, organization=request.org, user=request.user
    )
    conflicts: list[dict] = []
    if request.method == "POST" and form.is_valid():
        values, custom = form.standard_values(), form.custom_values()
        # Salesforce may have moved an edited field since the person opened the form: show it and let them choose.
        choices = {key[len("resolve:") :]: value for key, value in request.POST.items() if key.startswith("resolve:")}
        for conflict in hooks.remote_conflicts(record, form.edited_keys()):
            choice = choices.get(conflict["field"])
            if choice == "theirs":
                if conflict["field"].startswith(services.CUSTOM_PREFIX):
                    custom[conflict["field"][len(services.CUSTOM_PREFIX) :]] = conflict["rox_value"]
                elif conflict["rox_value"] is not None:
                    values[conflict["field"]] = conflict["rox_value"]
            elif choice != "mine":
                conflicts.append(conflict)
        if conflicts:
            messages.warning(
                request, "Salesforce changed some of these fields since you opened the form. Choose, then save."
            )
            return render(
                request,
                "roxcrm/record_form.html",
                {
                    "spec": spec,
                    "form": form,
                    "record": record,
                    "conflicts": conflicts,
                    "urls": spec.urls(request.org.slug, record),
                },
                status=409,
            )
        try:
            change = services.record_update(
                record=record,
                values=values,
                custom_values=custom,
                actor=Actor.person(request.user),
                expected_version=form.cleaned_data.get("version"),
            )
        except StaleRecordError as exc:
            # Keep what the user typed, tell them what the other save changed, and let them save again knowingly.
            seen = form.cleaned_data.get("version")
            data = request.POST.copy()
            data["version"] = str(exc.current.version)
            form = spec.form_class(data, instance=exc.current, organization=request.org, user=request.user)
            form.is_valid()
            newer = FieldChange.objects.filter(
                object_type=record.object_type, record_id=record.pk, record_version__gt=seen or 0
            ).select_related("actor_user")
            summary = "; ".join(
                f"{c.field} → {c.new_value!s} ({c.actor_label or c.get_actor_kind_display()})" for c in newer
            )
            messages.error(
                request,
                f"Someone else saved this {spec.singular.lower()} while you were editing it ({summary}). "
                "Your values are still in the form: check them and save again to keep them.",
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            if change.changed:
                outcome = hooks.after_save(change.record)
                suffix = f" — {outcome}" if outcome else ""
                messages.success(request, f"Saved {len(change.changes)} change(s) to “{change.record}”{suffix}.")
            else:
                messages.info(request, "Nothing changed.")
            return redirect(change.record.get_absolute_url())
    return render(
        request,
        "roxcrm/record_form.html",
        {"spec": spec, "form": form, "record": record, "urls": spec.urls(request.org.slug, record)},
    )


def _uuid_or_none(text: str) -> uuid.UUID | None:
    """A code from a query string; ``None`` for anything that is not one (no record has it)."""
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


record_list = member_required(_list)
record_detail = member_required(_detail)
record_create = member_required(_create)
record_edit = member_required(_edit)


def _added(request: HttpRequest, object_key: str) -> RecordType:
    definition = ObjectDefinition.objects.filter(organization=request.org, key=object_key).first()  # type: ignore[attr-defined]
    if definition is None:
        raise Http404("No such object in this organization.")
    spec = added_record_type(definition)
    if not objects.has_owner(request.org, definition.key):  # type: ignore[attr-defined]
        # A master-detail child (Milestone__c): Salesforce gives it no owner, so its pages show none.
        spec = dataclasses.replace(
            spec,
            list_columns=("name",),
            detail_fields=("name",),
            select_related=(),
            form_class=OwnerlessObjectRecordForm,
        )
    return spec


def _archived(spec: RecordType) -> str:
    """Why an added object removed from the sync offers no new record and no edit ("" for any other object)."""
    if spec.definition is None or spec.definition.archived_at is None:
        return ""
    when = timezone.localtime(spec.definition.archived_at).strftime("%Y-%m-%d")
    return (
        f"{spec.singular} was removed from the sync on {when}; its records are kept read-only. Restore it from "
        "CRM Mappings → + Add object."
    )


@member_required
def object_record_list(request: HttpRequest, object_key: str) -> HttpResponse:
    return _list(request, _added(request, object_key))


@member_required
def object_record_detail(request: HttpRequest, object_key: str, code: str) -> HttpResponse:
    return _detail(request, code, _added(request, object_key))


@member_required
def object_record_create(request: HttpRequest, object_key: str) -> HttpResponse:
    spec = _added(request, object_key)
    if _archived(spec):
        messages.info(request, _archived(spec))
        return redirect(spec.urls(request.org.slug)["list"])  # type: ignore[attr-defined]
    return _create(request, spec)


@member_required
def object_record_edit(request: HttpRequest, object_key: str, code: str) -> HttpResponse:
    return _edit(request, code, _added(request, object_key))


def object_record_urlpatterns() -> list[URLPattern]:
    """The pages of every object an organization added, by its key."""
    return [
        path("objects/<slug:object_key>/", object_record_list, name="object_record_list"),
        path("objects/<slug:object_key>/new/", object_record_create, name="object_record_create"),
        path("objects/<slug:object_key>/<uuid:code>/", object_record_detail, name="object_record_detail"),
        path("objects/<slug:object_key>/<uuid:code>/edit/", object_record_edit, name="object_record_edit"),
    ]


def record_urlpatterns(spec: RecordType, segment: str) -> list[URLPattern]:
    """The pages of one kind of record, named ``<key>_list``, ``<key>_create``, ``<key>_detail``, ``<key>_edit``."""
    extra = {"spec": spec}
    return [
        path(f"{segment}/", record_list, extra, name=f"{spec.key}_list"),
        path(f"{segment}/new/", record_create, extra, name=f"{spec.key}_create"),
        path(f"{segment}/<uuid:code>/", record_detail, extra, name=f"{spec.key}_detail"),
        path(f"{segment}/<uuid:code>/edit/", record_edit, extra, name=f"{spec.key}_edit"),
    ]
