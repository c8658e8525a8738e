"""What the rest of the product does when a record changes, without records knowing about Salesforce.

``settings.RECORD_HOOKS`` names a module (``integrations.record_hooks``) that may define:

- ``record_changed(change, actor)``: called by the edit path inside the edit's transaction (so the outbox row is
  written with the change, or neither is);
- ``change_errors(record, changed, actor, creating)``: inside the edit path, before anything is saved: errors (by
  field key) for values the system of record would refuse, so they are refused now rather than failing later;
- ``locked_fields(record, creating)``: the fields people may not change (the system of record owns them), by field
  key, each with the reason: the pages show them read-only, and ``change_errors`` refuses changes to them;
- ``picklist_choices(record, creating)``: the fields whose values the system of record chooses from (a picklist a
  writing rule sends them to), by field key, as ``Picklist``: the pages and the admin offer those values, and
  ``change_errors`` refuses any other;
- ``picklists(organization)``: the same for every object, by object type (the API lists them);
- ``field_rules(record, creating)``: ``locked_fields`` and ``picklist_choices`` from one read (optional);
- ``remote_conflicts(record, fields)``: before an interactive save, which edited fields the system of record
  changed since the user loaded the form (for the "keep mine / take theirs" choice);
- ``after_save(record)``: after an interactive save commits, write it out now if possible and say how it went.

Records call these through the functions below; when no module is configured they do nothing.
"""

from __future__ import annotations

from functools import cache
from importlib import import_module
from types import ModuleType
from typing import Any, NamedTuple

from django.conf import settings


class Picklist(NamedTuple):
    """The values a field is chosen from: those of the system of record's picklist a writing rule sends it to."""

    salesforce_field: str  # "Opportunity.StageName" (several, comma-separated, when one field goes to several)
    values: tuple[str, ...]  # the active values, in the system of record's order
    default: str | None  # the default value there, if any
    multiple: bool = False  # a multi-select picklist: each chosen value is one of ``values``


@cache
def _module() -> ModuleType | None:
    path = getattr(settings, "RECORD_HOOKS", "")
    return import_module(path) if path else None


def record_changed(change: Any, actor: Any) -> None:
    module = _module()
    if module is not None and hasattr(module, "record_changed"):
        module.record_changed(change, actor)


def change_errors(record: Any, changed: dict[str, Any], actor: Any, creating: bool) -> dict[str, list[str]]:
    module = _module()
    if module is None or not hasattr(module, "change_errors"):
        return {}
    return module.change_errors(record, changed, actor, creating)


def locked_fields(record: Any, creating: bool = False) -> dict[str, str]:
    module = _module()
    if module is None or not hasattr(module, "locked_fields"):
        return {}
    return module.locked_fields(record, creating)


def field_rules(record: Any, creating: bool = False) -> tuple[dict[str, str], dict[str, Picklist]]:
    """``locked_fields`` and ``picklist_choices`` together, read once (an edit form needs both)."""
    module = _module()
    if module is None or not hasattr(module, "field_rules"):
        return locked_fields(record, creating), picklist_choices(record, creating)
    return module.field_rules(record, creating)


def picklist_choices(record: Any, creating: bool = False) -> dict[str, Picklist]:
    module = _module()
    if module is None or not hasattr(module, "picklist_choices"):
        return {}
    return module.picklist_choices(record, creating)


def picklists(organization: Any) -> dict[str, dict[str, Picklist]]:
    module = _module()
    if module is None or not hasattr(module, "picklists"):
        return {}
    return module.picklists(organization)


def remote_conflicts(record: Any, fields: list[str]) -> list[Any]:
    module = _module()
    if module is None or not hasattr(module, "remote_conflicts"):
        return []
    return module.remote_conflicts(record, fields)


def after_save(record: Any) -> str:
    module = _module()
    if module is None or not hasattr(module, "after_save"):
        return ""
    return module.after_save(record)
