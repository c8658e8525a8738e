"""Custom objects and custom fields as an admin creates them in Setup: validated as Salesforce validates them (API
names, field types, lookups and master-detail relationships, Auto Number formats), stored in the org database and,
by default, granted to the standard profiles. The control API (``/_sfsim/objects``, ``/_sfsim/fields``), the
``demo`` seed and Metadata API deployments (``metadata.py``) create them through here.

Every function runs inside the caller's set-up transaction (``Store.setup_transaction``); validation problems raise
ValueError (the control API answers 400 with the message)."""

import re
import sqlite3

from lark.exceptions import LarkError

from . import ids
from .schema import Schema, SObject, check_custom_name, child_relationships
from .setup import grant_standard_profiles
from .soql import parse_formula
from .store import Store, quote

# The keys of a custom field spec (as POST /_sfsim/fields takes them).
FIELD_KEYS = (
    "label",
    "type",
    "length",
    "precision",
    "scale",
    "externalId",
    "unique",
    "nillable",
    "picklistValues",
    "restrictedPicklist",
    "referenceTo",
    "relationshipName",
    "calculatedFormula",
    "description",
    "defaultValue",
    "caseSensitive",
    "masterDetail",
    "reparentableMasterDetail",
    "writeRequiresMasterRead",
    "childRelationshipName",
)
# Field types by the names the control API accepts (sfsim's describe types, and Setup's / the Metadata API's names,
# compared without case, spaces or underscores) -> the describe type.
FIELD_TYPES = {
    "string": "string",
    "text": "string",
    "textarea": "textarea",
    "longtextarea": "textarea",
    "longtext": "textarea",
    "int": "int",
    "double": "double",
    "number": "double",
    "currency": "currency",
    "percent": "percent",
    "boolean": "boolean",
    "checkbox": "boolean",
    "date": "date",
    "datetime": "datetime",
    "picklist": "picklist",
    "multipicklist": "multipicklist",
    "multiselectpicklist": "multipicklist",
    "email": "email",
    "phone": "phone",
    "url": "url",
    "reference": "reference",
    "lookup": "reference",
    "masterdetail": "reference",
}
LONG_TEXT = {"longtextarea", "longtext"}  # Long Text Area: a textarea of 32,768 characters unless told
DEFAULT_LENGTHS = {
    "string": 255,
    "textarea": 255,
    "email": 80,
    "phone": 40,
    "url": 255,
    "picklist": 255,
    "multipicklist": 4099,
}
# Setup's defaults: Number(18, 0), Currency(16, 2), Percent(3, 2).
DEFAULT_PRECISION = {"double": (18, 0), "currency": (18, 2), "percent": (5, 2)}
MAX_LENGTH = {"string": 255, "textarea": 131072}
DEPLOYMENT_STATUSES = ("Deployed", "InDevelopment")
# Objects a master-detail relationship cannot have as its master.
NO_MASTER = {"User", "Task", "Event", "OpportunityLineItem", "PricebookEntry"}
_AUTO_NUMBER = re.compile(r"\{(0+)\}")
_PREFIX = re.compile(r"^[a-zA-Z0-9]{3}$")


def _humanize(name: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name[:-3]).replace("_", " ").strip()


def _label(value: object, default: str, what: str) -> str:
    label = default if value in (None, "") else value
    if not isinstance(label, str) or not label.strip() or len(label) > 40:
        raise ValueError(f"{what} must be text of 1 to 40 characters")
    return label


# -- fields ----------------------------------------------------------------------------------------------------------
def field_spec(schema: Schema, object_name: str, body: dict, pending: dict[str, dict] | None = None) -> dict:
    """A custom field spec from a control API body, checked against the schema. ``pending``: custom objects being
    created in the same request (by name), which lookups may name."""
    if not isinstance(body, dict):
        raise ValueError("a field must be a JSON object")
    pending = pending or {}
    name = check_custom_name(body.get("name"), "custom field")
    where = f"{object_name}.{name}"
    raw_type = str(body.get("type", "string"))
    key = re.sub(r"[\s_-]", "", raw_type).lower()
    typ = FIELD_TYPES.get(key)
    if typ is None:
        raise ValueError(f"{where}: unknown field type {raw_type!r} (one of {', '.join(sorted(FIELD_TYPES))})")
    spec = {"object": object_name, "name": name, **{k: body[k] for k in FIELD_KEYS if k in body}}
    spec["type"] = typ
    if key == "masterdetail":
        spec["masterDetail"] = True
    spec["label"] = _label(body.get("label"), _humanize(name), f"{where}: label")
    if typ in DEFAULT_LENGTHS and not spec.get("calculatedFormula"):
        spec.setdefault("length", 32768 if key in LONG_TEXT else DEFAULT_LENGTHS[typ])
        if not isinstance(spec["length"], int) or not 0 < spec["length"] <= MAX_LENGTH.get(typ, spec["length"]):
            raise ValueError(f"{where}: length must be a whole number from 1 to {MAX_LENGTH.get(typ, 255)}")
    if typ in DEFAULT_PRECISION:
        precision, scale = DEFAULT_PRECISION[typ]
        spec.setdefault("precision", precision)
        spec.setdefault("scale", scale)
        if not (
            isinstance(spec["precision"], int)
            and isinstance(spec["scale"], int)
            and 0 <= spec["scale"] <= spec["precision"] <= 18
        ):
            raise ValueError(f"{where}: precision (at most 18) and scale (at most the precision) are whole numbers")
    if typ in ("picklist", "multipicklist"):
        values = spec.get("picklistValues")
        if not values or not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
            raise ValueError(f"{where}: a {typ} needs picklistValues, a list of non-empty strings")
    if spec.get("calculatedFormula") is not None:
        if typ in ("reference", "picklist", "multipicklist", "textarea"):
            raise ValueError(f"{where}: a formula field cannot be of type {typ}")
        try:
            parse_formula(str(spec["calculatedFormula"]))
        except LarkError as e:
            raise ValueError(f"{where}: the formula does not parse: {e}") from None
    if typ == "reference":
        _reference(schema, object_name, spec, pending)
    elif spec.get("masterDetail"):
        raise ValueError(f"{where}: masterDetail applies to reference fields only")
    if spec.get("nillable") is False and typ == "boolean":
        spec.pop("nillable")  # checkboxes are never nillable, and never "required"
    return spec


def _reference(schema: Schema, object_name: str, spec: dict, pending: dict[str, dict]) -> None:
    where = f"{object_name}.{spec['name']}"
    targets = spec.get("referenceTo")
    if isinstance(targets, str):
        targets = [targets]
    if not targets or not isinstance(targets, list):
        raise ValueError(f"{where}: a lookup or master-detail field needs referenceTo (an object name)")
    resolved = []
    for target in targets:
        o = schema.get(str(target))
        if o is not None and not o.setup:
            resolved.append(o.name)
        elif str(target).lower() in {p.lower() for p in pending}:
            resolved.append(next(p for p in pending if p.lower() == str(target).lower()))
        else:
            raise ValueError(f"{where}: referenceTo names no object that records can refer to: {target!r}")
    spec["referenceTo"] = resolved
    rel = spec.setdefault("relationshipName", spec["name"][:-3] + "__r")
    if not isinstance(rel, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*__r", rel):
        raise ValueError(f"{where}: relationshipName must be the field's name with __r (e.g. {spec['name'][:-3]}__r)")
    if spec.get("masterDetail"):
        own = schema.get(object_name)
        if object_name == "Activity" or (own is not None and not own.custom):
            raise ValueError(f"{where}: only a custom object can be the detail side of a master-detail relationship")
        if len(resolved) != 1 or resolved[0] in NO_MASTER:
            raise ValueError(f"{where}: a master-detail field refers to exactly one object, which can be a master")
        spec.pop("nillable", None)  # always required
        if spec.get("calculatedFormula") is not None:
            raise ValueError(f"{where}: a master-detail field cannot be a formula")


def _child_name(spec: dict, child_plural: str) -> str:
    """The relationship name the parent's describe lists (``Milestones__r``): given, or the child's plural label."""
    given = spec.get("childRelationshipName")
    base = given if given else re.sub(r"[^A-Za-z0-9]", "", child_plural)
    base = base[:-3] if base.endswith("__r") else base
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", base) or "__" in base or base.endswith("_"):
        raise ValueError(f"{spec['object']}.{spec['name']}: childRelationshipName {given!r} is not a valid name")
    return base + "__r"


def _parent_children(schema: Schema, parent: str, extra: list[dict]) -> set[str]:
    o = schema.get(parent)
    names = {(c["relationshipName"] or "").lower() for c in child_relationships(o)} if o is not None else set()
    names |= {(s["childRelationshipName"] or "").lower() for s in extra if parent in s["referenceTo"]}
    return names - {""}


def finish_references(
    schema: Schema, object_name: str, child_plural: str, specs: list[dict], existing: SObject | None = None
) -> None:
    """Child relationship names (unique on each parent) and master-detail order for an object's new reference
    fields; at most two master-detail fields an object."""
    masters = [f for f in existing.fields.values() if f.relationship_order is not None] if existing else []
    done: list[dict] = []
    for spec in specs:
        if spec["type"] != "reference":
            continue
        spec["childRelationshipName"] = _child_name(spec, child_plural)
        for parent in spec["referenceTo"]:
            if spec["childRelationshipName"].lower() in _parent_children(schema, parent, done):
                raise ValueError(
                    f"{object_name}.{spec['name']}: {parent} already has a child relationship named "
                    f"{spec['childRelationshipName']}; give another childRelationshipName"
                )
        if spec.get("masterDetail"):
            if len(masters) >= 2:
                raise ValueError(f"{object_name}.{spec['name']}: an object has at most two master-detail fields")
            spec["relationshipOrder"] = len(masters)
            masters.append(spec)
        done.append(spec)


def add_field(store: Store, conn: sqlite3.Connection, now: str, body: dict) -> dict:
    """``POST /_sfsim/fields``: a custom field on an existing object (``Activity``: on Task and Event)."""
    obj = body.get("object")
    schema = store.schema
    o = schema.get(obj) if obj != "Activity" else schema.get("Task")
    if o is None or o.tooling:
        raise KeyError(f"no object {obj}")
    spec = field_spec(schema, obj, body)
    if (
        o.field(spec["name"]) is not None
        or conn.execute(
            "SELECT 1 FROM _sfsim_custom_fields WHERE object = ? AND name = ? COLLATE NOCASE", (obj, spec["name"])
        ).fetchone()
    ):
        raise ValueError(f"{obj}.{spec['name']} already exists")
    if spec.get("masterDetail") and conn.execute(f"SELECT 1 FROM {quote(o.name)} LIMIT 1").fetchone():
        raise ValueError(f"{obj}.{spec['name']}: a master-detail field cannot be added to an object that has records")
    if spec["type"] == "reference":
        finish_references(schema, obj, o.label_plural, [spec], o)
    store.save_custom_field(conn, spec)
    return spec


# -- objects ---------------------------------------------------------------------------------------------------------
def _name_field(raw: object, label: str) -> dict:
    raw = {} if raw is None else raw
    if isinstance(raw, str):
        raw = {"label": raw}
    if not isinstance(raw, dict):
        raise ValueError('nameField must be {"label", "type": "Text" or "AutoNumber", "displayFormat"}')
    typ = str(raw.get("type", "Text"))
    out = {"label": _label(raw.get("label"), f"{label} Name", "nameField.label")}
    if typ.lower() in ("text", "string"):
        out["type"] = "Text"
        return out
    if re.sub(r"[\s_-]", "", typ).lower() != "autonumber":
        raise ValueError(f"nameField.type must be Text or AutoNumber, not {typ!r}")
    fmt = raw.get("displayFormat")
    if not isinstance(fmt, str) or len(_AUTO_NUMBER.findall(fmt)) != 1 or len(fmt) > 30:
        raise ValueError(
            "an AutoNumber nameField needs a displayFormat of at most 30 characters with one {0…}, e.g. M-{0000}"
        )
    start = raw.get("startingNumber", 1)
    if not isinstance(start, int) or start < 0:
        raise ValueError("nameField.startingNumber must be a whole number, 0 or more")
    out.update({"type": "AutoNumber", "displayFormat": fmt, "startingNumber": start})
    return out


def _key_prefix(schema: Schema, given: object) -> str:
    used = set(schema.by_prefix)
    if given is not None:
        if not isinstance(given, str) or not _PREFIX.match(given):
            raise ValueError("keyPrefix must be 3 letters or digits")
        if given in used:
            raise ValueError(f"keyPrefix {given} is already used by {schema.by_prefix[given].name}")
        return given
    # Salesforce gives custom objects prefixes starting with "a"; the first free one keeps seeding deterministic.
    for second in ids.BASE62:
        for third in ids.BASE62:
            prefix = "a" + second + third
            if prefix not in used:
                return prefix
    raise ValueError("no key prefix left")  # pragma: no cover - 3,844 custom objects


def create_object(store: Store, conn: sqlite3.Connection, now: str, body: dict) -> dict:
    """``POST /_sfsim/objects``: a custom object with its fields, in the schema at once; returns its summary."""
    schema = store.schema
    name = check_custom_name(body.get("name"), "custom object")
    if name.lower() in schema.objects:
        raise ValueError(f"an object named {schema.objects[name.lower()].name} already exists")
    label = _label(body.get("label"), _humanize(name), "label")
    status = body.get("deploymentStatus", "Deployed")
    if status not in DEPLOYMENT_STATUSES:
        raise ValueError(f"deploymentStatus must be one of {', '.join(DEPLOYMENT_STATUSES)}")
    spec = {
        "name": name,
        "label": label,
        "pluralLabel": _label(body.get("pluralLabel") or body.get("labelPlural"), label + "s", "pluralLabel"),
        "nameField": _name_field(body.get("nameField"), label),
        "keyPrefix": _key_prefix(schema, body.get("keyPrefix")),
        "deploymentStatus": status,
        "description": body.get("description"),
        "grant_profiles": bool(body.get("grant_profiles", True)),
    }
    raw_fields = body.get("fields") or []
    if not isinstance(raw_fields, list):
        raise ValueError("fields must be a list of field specs")
    fields, seen = [], set()
    for raw in raw_fields:
        f = field_spec(schema, name, raw, {name: spec})
        if f["name"].lower() in seen:
            raise ValueError(f"{name}.{f['name']} is given twice")
        seen.add(f["name"].lower())
        fields.append(f)
    finish_references(schema, name, spec["pluralLabel"], fields)
    store.save_custom_object(conn, spec, fields)
    if spec["grant_profiles"]:
        grant_standard_profiles(store, conn, now, name)
    return describe_object(store, conn, name)


def describe_object(store: Store, conn: sqlite3.Connection, name: str) -> dict:
    o = store.schema.get(name)
    spec = next(s for s in store.custom_object_specs(conn) if s["name"] == o.name)
    return {
        **spec,
        "detail": o.field("OwnerId") is None,
        "fields": [f.name for f in o.fields.values()],
        "records": conn.execute(f'SELECT COUNT(*) FROM {quote(o.name)} WHERE "IsDeleted" = 0').fetchone()[0],
    }


def list_objects(store: Store, conn: sqlite3.Connection) -> list[dict]:
    return [describe_object(store, conn, s["name"]) for s in store.custom_object_specs(conn)]


def delete_object(store: Store, conn: sqlite3.Connection, name: str) -> str:
    """``DELETE /_sfsim/objects/<name>``: the object, its records (recycle bin included), fields and permissions.
    Refused while fields of other objects refer to it (delete those first, as Salesforce asks)."""
    o = store.schema.get(name)
    if o is None or not o.created:
        raise KeyError(f"no custom object {name} created through the control API")
    refs = sorted({f"{child}.{f.name}" for child, f in o.children if child != o.name})
    if refs:
        raise ValueError(f"{o.name} is referenced by {', '.join(refs)}: delete those fields first")
    drop_objects(store, conn, [o.name])
    return o.name


def drop_objects(store: Store, conn: sqlite3.Connection, names: list[str]) -> None:
    """Drops custom objects with their permissions, and the fields of other objects that refer to them."""
    if not names:
        return
    gone = {n.lower() for n in names}
    for name in names:
        o = store.schema.get(name)
        for child, f in list(o.children) if o else ():
            if child.lower() not in gone and f.custom:
                owner = "Activity" if child in ("Task", "Event") else child
                store.delete_custom_field(conn, owner, f.name)
        for table in ("ObjectPermissions", "FieldPermissions"):
            conn.execute(f'DELETE FROM "{table}" WHERE "SobjectType" = ?', (name,))
    store.delete_custom_objects(conn, names)
