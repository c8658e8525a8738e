"""List, detail, create and edit pages shared by every kind of record. Each URL passes its ``RecordType``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path

from roxcrm import custom_fields, hooks, objects, services
from roxcrm.forms import RecordForm
from roxcrm.models import CustomField, FieldChange, ObjectDefinition, User
from roxcrm.record_types import RecordType, Related, added_record_type
from roxcrm.services import Actor, StaleRecordError
from roxcrm.tenancy import get_object_for_member, member_required


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
    return render(
        request,
        "roxcrm/record_list.html",
        {
            "spec": spec,
            "page": page,
            "query": query,
            "columns": spec.list_columns,
            "model": spec.model,
            "urls": spec.urls(request.org.slug),
            "filters": filters,
        },
    )


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
    params: str = ""  # the filters and order as a query string, for the pages' links


def _list_filters(request: HttpRequest, spec: RecordType) -> ListFilters:
    found = ListFilters()
    model_fields = {f.name for f in spec.model._meta.concrete_fields}
    kept: dict[str, str] = {}
    if "owner" in model_fields:
        found.owners = list(User.objects.filter(memberships__organization=request.org).order_by("email"))  # type: ignore[attr-defined]
        wanted = request.GET.get("owner", "").strip()
        if wanted:
            match = next((u for u in found.owners if str(u.pk) == wanted), None)
            if match is None:
                found.ignored.append("owner (no such member)")
            else:
                found.owner, kept["owner"] = wanted, wanted
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
    custom_rows = [
        _custom_row(request, definition, stored.get(definition.api_name))
        for definition in custom_fields.definitions_for(request.org, record.object_type)
        if definition.visible_to(request.user)
    ]
    related = []
    for section in spec.related:
        present = getattr(record, section.accessor).filter(removed_at=None)
        related.append({"section": section, "rows": list(present[:20]), "count": present.count()})
    # Records of added objects whose Link fields point here (an account's projects).
    for title, present, listing in objects.linked_to(request.org, record):
        section = Related(title, "", ("name", "owner"))
        related.append({"section": section, "rows": list(present[:20]), "count": present.count(), "more": listing})
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
            "history": _visible_history(history, spec.model, custom_rows),
            "urls": spec.urls(request.org.slug, record),
        },
    )


def _custom_row(request: HttpRequest, definition: CustomField, stored: Any) -> tuple[CustomField, str, str | None]:
    """A custom field as its record's page shows it: its value as text, and for a Link the linked record's page (the
    record read once, for both)."""
    if definition.data_type == CustomField.DataType.LINK and stored is not None:
        linked = objects.records_of(request.org, definition.target).filter(pk=stored).first()  # type: ignore[attr-defined]
        if linked is not None:
            return definition, str(linked), linked.get_absolute_url()
    return definition, custom_fields.display_value(definition, stored), None


def _visible_history(history: list[FieldChange], model: type, custom_rows: list) -> list[dict]:
    """The changes people may see (not other people's private custom fields), with field labels and related
    records shown by name."""
    labels = {f"custom.{row[0].api_name}": row[0].label for row in custom_rows}
    rows = []
    names: dict[tuple[type, object], str] = {}
    for change in history:
        if change.field.startswith("custom."):
            if change.field not in labels:
                continue
            old, new = (_shown(None, v) for v in (change.old_value, change.new_value))
            rows.append({"change": change, "label": labels[change.field], "old": old, "new": new})
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


def _shown(field: Any, value: Any) -> Any:
    """A recorded value as people read it: a choice by its label, a list (e-mail addresses, a multi-select) as a
    comma-separated text."""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or None
    if field is not None and field.choices and value is not None:
        return dict(field.flatchoices).get(value, value)
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
                custom_values=form.custom_values(),
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


def _edit(request: HttpRequest, code: str, spec: RecordType) -> HttpResponse:
    record = _get(request, spec, code)
    if record.read_only_reason():
        messages.info(request, record.read_only_reason())
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
    return added_record_type(definition)


@member_required
def object_record_list(request: HttpRequest, object_key: str) -> HttpResponse:
    return _list(request, _added(request, object_key))


@member_required
def object_record_detail(request: HttpRequest, object_key: str, code: str) -> HttpResponse:
    return _detail(request, code, _added(request, object_key))


@member_required
def object_record_create(request: HttpRequest, object_key: str) -> HttpResponse:
    spec = _added(request, object_key)
    if spec.definition is not None and spec.definition.archived_at is not None:
        messages.info(request, f"{spec.plural} were removed from Rox: their records are kept, new ones cannot be made.")
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
