"""Whether a mapping can work, checked against the connected org's schema (as ``SalesforceObject`` metadata handed
in) and Rox's fields, so that a mapping that cannot work is never saved. Each finding says why in the admin's words.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator

from mappings.defaults import MATCH_KEYS
from mappings.metadata import (
    RoxField,
    SalesforceField,
    SalesforceObject,
    prerequisite_blockers,
    rox_fields,
    salesforce_object,
)

if TYPE_CHECKING:
    from mappings.models import FieldMapping, ObjectMapping, StaticValue

ERROR, WARNING = "error", "warning"
FORMULA_NOTE = (
    "Formula fields change without Salesforce moving the record's LastModifiedDate; Rox refreshes mapped formula "
    "fields on their own schedule (README, “Formula fields”)."
)

# Rox data type -> the Salesforce field types it can pair with.
COMPATIBLE: dict[str, frozenset[str]] = {
    "text": frozenset({"string", "textarea", "email", "phone", "url", "picklist", "combobox", "id"}),
    "long_text": frozenset({"textarea", "string"}),
    "email": frozenset({"email", "string"}),
    "phone": frozenset({"phone", "string"}),
    "url": frozenset({"url", "string"}),
    "number": frozenset({"int", "double", "currency", "percent"}),
    "currency": frozenset({"currency", "double", "int"}),
    "percent": frozenset({"percent", "double", "int"}),
    "date": frozenset({"date"}),
    "datetime": frozenset({"datetime"}),
    "checkbox": frozenset({"boolean"}),
    "picklist": frozenset({"picklist", "combobox", "string"}),
    "multi_picklist": frozenset({"multipicklist"}),
}
TYPE_WORDS = {
    "text": "text",
    "long_text": "long text",
    "email": "e-mail",
    "phone": "phone",
    "url": "URL",
    "number": "number",
    "currency": "currency",
    "percent": "percent",
    "date": "date",
    "datetime": "date and time",
    "checkbox": "checkbox",
    "picklist": "picklist",
    "multi_picklist": "multi-select picklist",
    "reference": "link to another record",
}
# Which Salesforce object each Rox object corresponds to, for lookups.
REFERENCE_TARGETS = {
    "account": "Account",
    "contact": "Contact",
    "opportunity": "Opportunity",
    "lead": "Lead",
    "product": "Product2",
    "user": "User",
}
# Fields the activity writeback fills itself: the Salesforce types each can be pointed at.
MANAGED_TYPES = {
    "activity.id": frozenset({"string"}),
    "activity.subject": frozenset({"string", "combobox", "textarea"}),
    "activity.who": frozenset({"reference"}),
    "activity.what": frozenset({"reference"}),
    "activity.status": frozenset({"picklist", "string", "combobox"}),
    "activity.date": frozenset({"date"}),
    "activity.start": frozenset({"datetime"}),
    "activity.end": frozenset({"datetime"}),
}
KEY_PREFIXES = {
    "Account": "001",
    "Contact": "003",
    "Opportunity": "006",
    "Lead": "00Q",
    "Task": "00T",
    "Event": "00U",
    "User": "005",
    "Product2": "01t",
    "OpportunityLineItem": "00k",
    "Pricebook2": "01s",
    "PricebookEntry": "01u",
    "Group": "00G",
}
_ID = re.compile(r"^[a-zA-Z0-9]{15}([A-Z0-5]{3})?$")


@dataclass(frozen=True)
class Finding:
    level: str
    message: str
    field: str | None = None  # which input it is about: "sf_field", "rox_field", "rule", "value"
    missing_options: tuple[str, ...] = ()  # Salesforce picklist values a Rox picklist lacks


def create_only_note(sf: SalesforceField) -> str:
    """What a writing rule does with a field Salesforce sets only on create (``SalesforceField.create_only``)."""
    kind = "the master-detail link to its master" if sf.master_detail else "a field set only on new records"
    return (
        f"{sf.label} ({sf.name}) is {kind}: it is written when Rox creates the record; Salesforce does not let it "
        "change after, so Rox never sends a later change of it."
    )


def type_word(rox: RoxField) -> str:
    return TYPE_WORDS.get(rox.type, rox.type)


def pair_findings(rox: RoxField, sf: SalesforceField, rule: str, *, object_type: str = "") -> list[Finding]:
    """Everything worth saying about pairing ``rox`` with ``sf`` under ``rule`` (errors refuse the pair)."""
    findings: list[Finding] = []
    writes = rule in ("read_write", "write_only", "prefer_salesforce")
    reads = rule in ("read_only", "read_write", "prefer_salesforce")
    if rox.type == "managed":
        allowed = MANAGED_TYPES.get(rox.key, frozenset())
        if sf.type not in allowed:
            findings.append(
                Finding(
                    ERROR,
                    f"{rox.label} needs a Salesforce field of type {' or '.join(sorted(allowed))}; "
                    f"{sf.label} ({sf.name}) is {sf.type_label}.",
                    "sf_field",
                )
            )
        if rox.key == "activity.id" and sf.length and sf.length < 100:
            findings.append(
                Finding(
                    ERROR,
                    f"{sf.name} holds {sf.length} characters; the Rox activity id needs a text field of length 100.",
                    "sf_field",
                )
            )
        return findings
    if rox.type == "reference":
        target = rox.target_sobject or REFERENCE_TARGETS.get(rox.target, "")
        if sf.type != "reference" or target not in sf.reference_to:
            findings.append(
                Finding(
                    ERROR,
                    f"{rox.label} links to a {target or rox.target} record, so it pairs only with a "
                    f"Salesforce lookup to {target or rox.target}; {sf.label} ({sf.name}) is {sf.type_label}.",
                    "sf_field",
                )
            )
    elif sf.type not in COMPATIBLE.get(rox.type, frozenset()):
        accepted = ", ".join(sorted(COMPATIBLE.get(rox.type, frozenset()))) or "nothing"
        findings.append(
            Finding(
                ERROR,
                f"Types do not match: the Rox field {rox.label} is {type_word(rox)}, which pairs with "
                f"Salesforce {accepted}; {sf.label} ({sf.name}) is {sf.type_label}.",
                "sf_field",
            )
        )
        return findings
    if writes and sf.read_only_in_salesforce:
        kind = "a formula field" if sf.calculated else "an auto-number field" if sf.auto_number else "read-only"
        note = f" {FORMULA_NOTE}" if sf.calculated else ""
        findings.append(
            Finding(
                ERROR,
                f"{sf.label} ({sf.name}) is {kind} in Salesforce: Rox can only read it, so the rule must "
                f"be Read Only.{note}",
                "rule",
            )
        )
    elif writes and sf.create_only:
        findings.append(Finding(WARNING, create_only_note(sf), "rule"))
    if writes and not rox.editable and not rox.custom:
        findings.append(
            Finding(
                WARNING,
                f"Rox derives {rox.label} itself; people cannot change it, so only changes Rox makes are written.",
                "rule",
            )
        )
    if writes and rox.custom and not rox.editable:
        findings.append(
            Finding(
                WARNING,
                f"{rox.label} is read-only in Rox (only the sync sets it), so Rox never has a change "
                "of its own to write.",
                "rule",
            )
        )
    if rox.max_length and sf.length and sf.type not in ("picklist", "multipicklist", "reference", "id"):
        if writes and rox.max_length > sf.length:
            findings.append(
                Finding(
                    WARNING,
                    f"Rox allows {rox.max_length} characters in {rox.label}; Salesforce's {sf.name} holds "
                    f"{sf.length}. Longer values cannot be written and are reported.",
                    "sf_field",
                )
            )
        if reads and sf.length > rox.max_length:
            findings.append(
                Finding(
                    WARNING,
                    f"Salesforce's {sf.name} holds {sf.length} characters; Rox's {rox.label} holds "
                    f"{rox.max_length}. Longer values are reported and skipped.",
                    "rox_field",
                )
            )
    if rox.type in ("picklist", "multi_picklist") and sf.picklist_values:
        missing = tuple(v for v in sf.picklist_values if v.lower() not in {o.lower() for o in rox.options})
        if missing and reads:
            findings.append(
                Finding(
                    WARNING,
                    f"Salesforce's {sf.name} has values the Rox picklist lacks: {', '.join(missing)}.",
                    "rox_field",
                    missing_options=missing,
                )
            )
        if writes:
            # Restricted or not: Rox refuses a value Salesforce's picklist lacks on the records it writes there.
            extra = tuple(o for o in rox.options if o not in sf.picklist_values)
            if extra:
                findings.append(
                    Finding(
                        WARNING,
                        f"Salesforce's {sf.name} has no value for these Rox options, so Rox refuses them on records "
                        f"it writes to Salesforce: {', '.join(extra)}.",
                        "rox_field",
                    )
                )
    return findings


def field_mapping_findings(
    mapping: FieldMapping, sf_object: SalesforceObject | None, fields: dict[str, RoxField]
) -> list[Finding]:
    """Errors and warnings of one field mapping row, including duplicates within its object."""
    from mappings.models import FieldMapping

    findings: list[Finding] = []
    rox = fields.get(mapping.rox_field)
    if rox is None:
        findings.append(Finding(ERROR, f"Rox has no field “{mapping.rox_field}” on this object.", "rox_field"))
    if mapping.object_mapping.read_only and mapping.rule != FieldMapping.Rule.READ_ONLY:
        findings.append(
            Finding(ERROR, f"Rox only reads {mapping.object_mapping.sobject}: the rule must be Read Only.", "rule")
        )
    if rox is not None and rox.type == "managed" and mapping.rule != FieldMapping.Rule.READ_WRITE:
        findings.append(
            Finding(ERROR, f"{rox.label} is filled by Rox's activity writeback: its rule is Read and Write.", "rule")
        )
    siblings = FieldMapping.objects.filter(object_mapping=mapping.object_mapping).exclude(pk=mapping.pk)
    if siblings.filter(sf_field=mapping.sf_field).exists():
        findings.append(Finding(ERROR, f"{mapping.sf_field} is already mapped on this object.", "sf_field"))
    if siblings.filter(rox_field=mapping.rox_field).exists():
        label = rox.label if rox else mapping.rox_field
        findings.append(Finding(ERROR, f"The Rox field {label} is already mapped on this object.", "rox_field"))
    if (
        not mapping.rox_field.startswith("activity.")
        and mapping.object_mapping.static_values.filter(sf_field=mapping.sf_field).exists()
    ):
        findings.append(Finding(ERROR, f"{mapping.sf_field} already has a static value; remove it first.", "sf_field"))
    if sf_object is None:
        return findings
    sf = sf_object.fields.get(mapping.sf_field)
    if sf is None:
        findings.append(
            Finding(
                ERROR,
                f"Salesforce has no field {mapping.sf_field} on {sf_object.name} that the integration user "
                "can read (it was deleted or renamed, or field-level security hides it).",
                "sf_field",
            )
        )
    elif rox is not None:
        findings.extend(pair_findings(rox, sf, mapping.rule, object_type=mapping.object_mapping.rox_object))
    return findings


def validate_field_mapping(mapping: FieldMapping) -> None:
    """Model validation (pages and admin alike): raise the errors, keyed by input."""
    om = mapping.object_mapping
    sf_object = salesforce_object(om.organization, om.sobject)
    findings = field_mapping_findings(mapping, sf_object, rox_fields(om.organization, om.rox_object))
    _raise(findings)


def field_status(
    mapping: FieldMapping, sf_object: SalesforceObject | None, fields: dict[str, RoxField]
) -> tuple[str, str]:
    """The row's badge: ("syncing" | "not_syncing" | "broken", why)."""
    errors = [f for f in field_mapping_findings(mapping, sf_object, fields) if f.level == ERROR]
    if errors:
        return "broken", errors[0].message
    if not mapping.object_mapping.sync_enabled:
        return "not_syncing", f"Sync of {mapping.object_mapping.sobject} is paused."
    if sf_object is None:
        return "not_syncing", "Salesforce is not connected (or its schema was never read)."
    return "syncing", ""


# -- static values -----------------------------------------------------------------------------------------------

# Fields Rox sets itself on every record it writes, whatever the mappings say: what the record is about and who
# owns it. A static value there would misfile every record Rox writes.
ROX_SET_FIELDS = {
    "Id": "the record's own Id",
    "OwnerId": "from the owner of each Rox record",
    "WhoId": "the contact or lead each activity is about",
    "WhatId": "the account or opportunity each activity relates to",
}


def static_value_reserved(sobject: str, sf_field: str, sf: SalesforceField | None) -> str | None:
    """Why no static value may go into ``sf_field`` (a field Rox itself sets), or None. Checked when one is saved
    and again by the writeback, so that configuration can never overwrite them."""
    if sf_field in MATCH_KEYS.get(sobject, ()) or (sf is not None and sf.external_id):
        return (
            f"Rox recognises the {sobject} records it writes by {sf_field}: one fixed value would make every record "
            "Rox writes look like the same one, and merge them."
        )
    if sf_field in ROX_SET_FIELDS:
        return f"Rox sets {sf_field} itself on every {sobject} it writes ({ROX_SET_FIELDS[sf_field]})."
    return None


def static_value_findings(static: StaticValue, sf_object: SalesforceObject | None) -> list[Finding]:
    from mappings.models import StaticValue as StaticValueModel

    findings: list[Finding] = []
    om = static.object_mapping
    if om.read_only:
        findings.append(
            Finding(ERROR, f"Rox never writes {om.sobject}, so a static value would never be used.", "sf_field")
        )
    sf = sf_object.fields.get(static.sf_field) if sf_object is not None else None
    reserved = static_value_reserved(om.sobject, static.sf_field, sf)
    if reserved:
        findings.append(Finding(ERROR, reserved, "sf_field"))
    # The content that the activity writeback fills from the activity (“activity.*”: subject, status, dates) may be
    # replaced by a static value, which applies last; any other mapped field is either mapped or fixed, not both.
    elif om.field_mappings.filter(sf_field=static.sf_field).exclude(rox_field__startswith="activity.").exists():
        findings.append(
            Finding(
                ERROR,
                f"{static.sf_field} is mapped to a Rox field; a field is either mapped or given a static value.",
                "sf_field",
            )
        )
    if StaticValueModel.objects.filter(object_mapping=om, sf_field=static.sf_field).exclude(pk=static.pk).exists():
        findings.append(Finding(ERROR, f"{static.sf_field} already has a static value.", "sf_field"))
    if sf_object is None:
        return findings
    sf = sf_object.fields.get(static.sf_field)
    if sf is None:
        findings.append(
            Finding(
                ERROR,
                f"Salesforce has no field {static.sf_field} on {sf_object.name} that the integration user can see.",
                "sf_field",
            )
        )
        return findings
    if sf.calculated or sf.auto_number:
        findings.append(
            Finding(ERROR, f"{sf.label} ({sf.name}) is computed by Salesforce and cannot be written.", "sf_field")
        )
    elif static.when == StaticValueModel.When.CREATE_ONLY and not sf.createable:
        findings.append(Finding(ERROR, f"The integration user cannot set {sf.name} on new records.", "sf_field"))
    elif static.when == StaticValueModel.When.EVERY_WRITE and not sf.updateable:
        findings.append(
            Finding(
                ERROR,
                f"The integration user cannot edit {sf.name}; choose “Only when Rox creates "
                "the record” if it can be set on new records.",
                "when",
            )
        )
    if static.clear_field and static.value.strip():
        findings.append(Finding(ERROR, "“Write a blank” writes nothing: leave the value empty, or untick it.", "value"))
    elif not static.clear_field and not static.value.strip():
        findings.append(
            Finding(
                ERROR,
                f"Give a value, or tick “Write a blank” to clear {sf.name} in Salesforce on every record Rox writes.",
                "value",
            )
        )
    else:
        error = static_value_error(sf, static.value)
        if error:
            findings.append(Finding(ERROR, error, "value"))
    return findings


def static_value_error(sf: SalesforceField, value: str) -> str | None:
    """Why ``value`` is not valid for ``sf`` (as Salesforce would refuse it), or None."""
    text = value.strip()
    if not text:
        return None if sf.nillable else f"{sf.name} is required in Salesforce: give a value."
    kind = sf.type
    if (
        kind in ("string", "textarea", "email", "phone", "url", "combobox", "encryptedstring")
        and sf.length
        and len(value) > sf.length
    ):
        return f"{sf.name} holds at most {sf.length} characters; this value has {len(value)}."
    if kind == "email":
        try:
            EmailValidator()(text)
        except ValidationError:
            return f"“{text}” is not a valid e-mail address."
    if kind == "url":
        try:
            URLValidator()(text if "://" in text else f"https://{text}")
        except ValidationError:
            return f"“{text}” is not a valid web address."
    if kind == "picklist" and sf.picklist_values and text not in sf.picklist_values:
        return f"“{text}” is not a value of {sf.name} ({', '.join(sf.picklist_values)})."
    if kind == "multipicklist" and sf.picklist_values:
        bad = [v for v in text.split(";") if v.strip() not in sf.picklist_values]
        if bad:
            return f"Not values of {sf.name}: {', '.join(bad)}."
    if kind == "boolean" and text.lower() not in ("true", "false"):
        return f"{sf.name} is a checkbox: the value must be true or false."
    if kind in ("int", "double", "currency", "percent"):
        return _number_error(sf, text)
    if kind == "date":
        try:
            dt.date.fromisoformat(text)
        except ValueError:
            return f"“{text}” is not a date; use YYYY-MM-DD."
    if kind == "datetime":
        try:
            dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return f"“{text}” is not a date and time; use ISO 8601, e.g. 2026-01-31T09:00:00Z."
    if kind == "reference":
        return _reference_error(sf, text)
    return None


TEXT_TYPES = frozenset({"string", "textarea", "email", "phone", "url", "combobox", "encryptedstring"})
NUMBER_TYPES = frozenset({"int", "double", "currency", "percent"})


PICKLIST_TYPES = frozenset({"picklist", "multipicklist"})


def salesforce_value_error(sf: SalesforceField, value: Any) -> str | None:
    """Why Salesforce would refuse ``value`` (a Rox value about to be written to ``sf``): its length, its
    precision and scale. None when it would take it, or when Rox cannot tell (references, owners, dates: those are
    converted or resolved by the writeback). A picklist's values are ``picklist_value_error``'s."""
    if value is None or value == "" or value == []:
        return None
    if sf.type in TEXT_TYPES and sf.length and len(str(value)) > sf.length:
        return f"{sf.name} holds at most {sf.length} characters; this value has {len(str(value))}."
    if sf.type in NUMBER_TYPES and not isinstance(value, bool):
        text = format(value, "f") if isinstance(value, Decimal) else str(value)
        return _number_error(sf, text)
    return None


def picklist_value_error(sf: SalesforceField, value: Any, sobject: str = "") -> str | None:
    """Why ``value`` is not one of the active values of the picklist (or multi-select: each chosen value) ``sf``
    of ``sobject``, restricted or not, naming the field and its values; None when it is (or ``sf`` is no picklist,
    or the describe lists no values). A value deactivated or renamed in Salesforce is not among them. Record-type
    dependent values are not known here: every active value of the field counts."""
    if sf.type not in PICKLIST_TYPES or not sf.picklist_values or value is None or value == "" or value == []:
        return None
    name = f"{sobject}.{sf.name}" if sobject else sf.name
    values = ", ".join(sf.picklist_values)
    if sf.type == "multipicklist":
        chosen = value if isinstance(value, list | tuple) else str(value).split(";")
        bad = [str(v) for v in chosen if str(v) not in sf.picklist_values]
    else:
        bad = [] if str(value) in sf.picklist_values else [str(value)]
    if not bad:
        return None
    shown = ", ".join(f"“{v}”" for v in bad)
    gone = [v for v in bad if v in sf.inactive_picklist_values]
    if len(gone) == len(bad):
        word = "is no longer a value" if len(bad) == 1 else "are no longer values"
        return f"{shown} {word} of Salesforce's {name} (deactivated there). Its values: {values}."
    word = "is not a value" if len(bad) == 1 else "are not values"
    return f"{shown} {word} of Salesforce's {name}. Its values: {values}."


def _number_error(sf: SalesforceField, text: str) -> str | None:
    try:
        number = Decimal(text)
    except InvalidOperation:
        return f"“{text}” is not a number."
    exponent = number.as_tuple().exponent
    scale = sf.scale if sf.type != "int" else 0
    if isinstance(exponent, int) and -exponent > scale:
        return f"{sf.name} allows {scale} decimal place{'s' if scale != 1 else ''}; “{text}” has more."
    integer_digits = len(number.quantize(Decimal(1)).as_tuple().digits) if number else 1
    if sf.precision and integer_digits > sf.precision - scale:
        return f"“{text}” is too large for {sf.name}."
    return None


def _reference_error(sf: SalesforceField, text: str) -> str | None:
    if not _ID.match(text):
        return f"“{text}” is not a Salesforce record Id (15 or 18 letters and digits)."
    if len(text) == 18 and case_safe_suffix(text[:15]) != text[15:]:
        return f"“{text}” is not a valid Salesforce Id (its last three characters do not match)."
    prefixes = {KEY_PREFIXES[o]: o for o in sf.reference_to if o in KEY_PREFIXES}
    if prefixes and text[:3] not in prefixes:
        return f"{sf.name} links to {' or '.join(sf.reference_to)}; “{text}” is the Id of another kind of record."
    return None


def case_safe_suffix(id15: str) -> str:
    """Salesforce's 3-character suffix that makes a 15-character Id case-insensitive."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
    suffix = ""
    for chunk in range(3):
        bits = 0
        for position, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix += alphabet[bits]
    return suffix


def validate_static_value(static: StaticValue) -> None:
    om = static.object_mapping
    _raise(static_value_findings(static, salesforce_object(om.organization, om.sobject)))


# -- the object ----------------------------------------------------------------------------------------------------


def required_fields_missing(object_mapping: ObjectMapping, sf_object: SalesforceObject | None) -> list[str]:
    """Salesforce fields required when creating a record (not nillable, createable, not defaulted) that are
    neither mapped with a rule that writes nor given a static value."""
    if sf_object is None:
        return []
    covered = {m.sf_field for m in object_mapping.field_mappings.all() if m.writes}
    covered |= {s.sf_field for s in object_mapping.static_values.all()}
    return sorted(f.name for f in sf_object.fields.values() if f.required_on_create and f.name not in covered)


def writeback_blockers(object_mapping: ObjectMapping, sf_object: SalesforceObject | None) -> list[str]:
    """Why new entity writeback cannot be switched on for this object (empty when it can): the prerequisite
    checks (package, object Create/Edit) and every field Salesforce requires on create."""
    blockers = []
    if object_mapping.read_only:
        return [f"Rox only reads {object_mapping.sobject}."]
    if sf_object is None:
        return ["Connect Salesforce first."]
    blockers.extend(prerequisite_blockers(object_mapping.organization, object_mapping.sobject))
    missing = required_fields_missing(object_mapping, sf_object)
    if missing:
        blockers.append(
            f"Salesforce requires {', '.join(missing)} on every new {object_mapping.sobject}: map "
            f"{'it' if len(missing) == 1 else 'them'} with a rule that writes, or give a static value."
        )
    return blockers


def validate_object_mapping(object_mapping: ObjectMapping) -> None:
    if object_mapping.sync_frequency not in object_mapping.FREQUENCIES:
        raise ValidationError({"sync_frequency": "Choose one of the offered frequencies."})
    if object_mapping.new_entity_writeback and object_mapping.pk:
        blockers = writeback_blockers(
            object_mapping, salesforce_object(object_mapping.organization, object_mapping.sobject)
        )
        if blockers:
            raise ValidationError({"new_entity_writeback": blockers})


def _raise(findings: list[Finding]) -> None:
    errors: dict[str, list[str]] = {}
    for finding in findings:
        if finding.level == ERROR:
            errors.setdefault(finding.field or "__all__", []).append(finding.message)
    if errors:
        raise ValidationError(errors)
