"""Metadata components — custom fields and permission sets — read from Salesforce's two file formats and deployed
into the org as the Metadata API deploys them.

Both formats end up as one list of components (plain dicts, so a deploy request can keep them in the database):

- the **Metadata API format** of a ``deployRequest`` zip (``package.xml``, ``objects/<Object>.object`` holding
  ``<fields>``, ``permissionsets/<Name>.permissionset``): :func:`read_zip`;
- the **Salesforce DX source format** of ``salesforce-package/`` (``objects/<Object>/fields/<Field>.field-meta.xml``,
  ``permissionsets/<Name>.permissionset-meta.xml``), which the ``ready`` scenario installs: :func:`read_source`.

:func:`deploy` applies a list inside the caller's set-up transaction and answers one DeployMessage-like result per
component (several for a component with several problems): all or nothing with ``rollback_on_error``, nothing at all
with ``check_only``. A CustomField creates or updates the custom field (``objects.add_field``); a PermissionSet
creates or updates the PermissionSet row and replaces its ObjectPermissions and FieldPermissions rows. Deploying the
same components again changes nothing and says so (``changed: false``, ``created: false``).
"""

import hashlib
import io
import json
import re
import sqlite3
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable
from pathlib import Path

from . import ids, objects
from .errors import SFError
from .permissions import USER_PERMS
from .schema import SObject
from .setup import SetupBuilder
from .store import Store, quote

# The Metadata API's FieldType enumeration: a <type> outside it does not parse.
FIELD_TYPE_ENUM = frozenset(
    {
        "AutoNumber",
        "Lookup",
        "MasterDetail",
        "MetadataRelationship",
        "Checkbox",
        "Currency",
        "Date",
        "DateTime",
        "Email",
        "EncryptedText",
        "Note",
        "Number",
        "Percent",
        "Phone",
        "Picklist",
        "MultiselectPicklist",
        "Summary",
        "Text",
        "TextArea",
        "LongTextArea",
        "Url",
        "Hierarchy",
        "File",
        "CustomDataType",
        "Html",
        "Geolocation",
        "Time",
        "ExternalLookup",
        "IndirectLookup",
    }
)
# The describe type of a field, in Setup's words (for messages).
SETUP_TYPE_NAMES = {
    "string": "Text",
    "textarea": "TextArea",
    "double": "Number",
    "int": "Number",
    "currency": "Currency",
    "percent": "Percent",
    "boolean": "Checkbox",
    "date": "Date",
    "datetime": "DateTime",
    "picklist": "Picklist",
    "multipicklist": "MultiselectPicklist",
    "email": "Email",
    "phone": "Phone",
    "url": "Url",
    "reference": "Lookup",
}
# CustomField elements -> the field spec keys of objects.field_spec, and how their text is read.
FIELD_ELEMENTS: dict[str, tuple[str, str]] = {
    "label": ("label", "str"),
    "description": ("description", "str"),
    "length": ("length", "int"),
    "precision": ("precision", "int"),
    "scale": ("scale", "int"),
    "externalId": ("externalId", "bool"),
    "unique": ("unique", "bool"),
    "caseSensitive": ("caseSensitive", "bool"),
    "formula": ("calculatedFormula", "str"),
    "defaultValue": ("defaultValue", "str"),
    "referenceTo": ("referenceTo", "str"),
    # In metadata, a lookup's relationshipName is the name of the child relationship on the parent.
    "relationshipName": ("childRelationshipName", "str"),
    "reparentableMasterDetail": ("reparentableMasterDetail", "bool"),
    "writeRequiresMasterRead": ("writeRequiresMasterRead", "bool"),
}
# What a field spec holds when a key is left out (to tell a real change from a spec written another way).
SPEC_DEFAULTS = {
    "externalId": False,
    "unique": False,
    "nillable": True,
    "caseSensitive": False,
    "masterDetail": False,
    "reparentableMasterDetail": False,
    "writeRequiresMasterRead": False,
    "restrictedPicklist": False,
}
OBJECT_PERMISSIONS = (  # (element, key, label) of an objectPermissions entry
    ("allowRead", "read", "Read"),
    ("allowCreate", "create", "Create"),
    ("allowEdit", "edit", "Edit"),
    ("allowDelete", "delete", "Delete"),
    ("viewAllRecords", "view_all", "View All"),
    ("modifyAllRecords", "modify_all", "Modify All"),
)
# An object permission needs these others (Salesforce refuses Edit without Read, Modify All without View All, ...).
PERMISSION_NEEDS = {
    "create": ("read",),
    "edit": ("read",),
    "delete": ("read", "edit"),
    "view_all": ("read",),
    "modify_all": ("read", "edit", "delete", "view_all"),
}
USER_PERMISSION_NAMES = {p.removeprefix("Permissions"): p for p in USER_PERMS}
SUPPORTED_TYPES = ("CustomObject", "CustomField", "PermissionSet")
# Deploy order: an object before its fields, fields before the permission sets that grant them.
APPLY_ORDER = {"Package": 0, "CustomObject": 1, "CustomField": 2, "PermissionSet": 3}
# What deploying a component did: (created, changed, its Id).
Outcome = tuple[bool, bool, str | None]
_PERMISSION_SET_NAME = re.compile(r"^[A-Za-z](?!.*__)[A-Za-z0-9_]{0,79}(?<!_)$")


class DeployProblem(Exception):
    """A component that cannot be deployed; each message becomes one componentFailures entry."""

    def __init__(self, *messages: str):
        super().__init__("; ".join(messages))
        self.messages = list(messages)


class ParseProblem(Exception):
    """A component file the Metadata API's schema refuses ("Error parsing file: ...")."""


# -- reading XML -----------------------------------------------------------------------------------------------------
def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(el: ET.Element, tag: str) -> list[ET.Element]:
    return [c for c in el if _local(c.tag) == tag]


def _text(el: ET.Element, tag: str) -> str | None:
    found = _children(el, tag)
    return (found[0].text or "").strip() if found else None


def _value(raw: str, kind: str) -> object:
    if kind == "int":
        if not re.fullmatch(r"-?\d+", raw):
            raise ParseProblem(f"Error parsing file: '{raw}' is not a valid value for the type xsd:int")
        return int(raw)
    if kind == "bool":
        if raw not in ("true", "false"):
            raise ParseProblem(f"Error parsing file: '{raw}' is not a valid value for the type xsd:boolean")
        return raw == "true"
    return raw


def _flag(el: ET.Element, tag: str) -> bool:
    raw = _text(el, tag)
    return bool(raw is not None and _value(raw, "bool"))


def _component(
    kind: str, full_name: str, file_name: str, definition: dict | None = None, problem: str | None = None
) -> dict:
    return {
        "componentType": kind,
        "fullName": full_name,
        "fileName": file_name,
        "definition": definition,
        "problem": problem,
        "lineNumber": None,
        "columnNumber": None,
    }


def _failed(kind: str, full_name: str, file_name: str, error: Exception) -> dict:
    """A component whose file does not parse: the problem, with the line and column when XML itself is broken."""
    if isinstance(error, ET.ParseError):
        c = _component(kind, full_name, file_name, problem=f"Error parsing file: {error}")
        c["lineNumber"], c["columnNumber"] = error.position
        return c
    return _component(kind, full_name, file_name, problem=str(error))


def field_definition(object_name: str, el: ET.Element) -> dict:
    """A ``CustomField`` element as a field spec of ``objects.field_spec`` (which checks the rest when the field is
    deployed). A field without ``__c`` is a standard field (``standard: true``): only its existence is checked."""
    name = _text(el, "fullName")
    if not name:
        raise ParseProblem("Error parsing file: a CustomField needs a fullName")
    spec: dict = {"object": object_name, "name": name}
    if not name.endswith("__c"):
        return {**spec, "standard": True}
    typ = _text(el, "type")
    if not typ:
        raise ParseProblem(f"Must specify a type for the CustomField {object_name}.{name}")
    if typ not in FIELD_TYPE_ENUM:
        raise ParseProblem(f"Error parsing file: '{typ}' is not a valid value for the enum 'FieldType'")
    if typ.lower() not in objects.FIELD_TYPES:
        raise ParseProblem(f"sfsim does not deploy custom fields of type {typ} ({object_name}.{name})")
    if not _text(el, "label"):
        raise ParseProblem(f"Must specify a non-empty label for the CustomField {object_name}.{name}")
    spec["type"] = typ
    for tag, (key, kind) in FIELD_ELEMENTS.items():
        raw = _text(el, tag)
        if raw is not None and raw != "":
            spec[key] = _value(raw, kind)
    if "referenceTo" in spec:
        spec["referenceTo"] = [spec["referenceTo"]]
    if typ == "Checkbox" and "defaultValue" in spec:
        spec["defaultValue"] = _value(spec["defaultValue"], "bool")  # describe's defaultValue: true or false
    spec["nillable"] = not _flag(el, "required")
    for value_set in _children(el, "valueSet"):
        if _text(value_set, "valueSetName"):
            raise ParseProblem(f"sfsim does not deploy global value sets ({object_name}.{name})")
        spec["restrictedPicklist"] = _flag(value_set, "restricted")
        spec["picklistValues"] = [
            _text(v, "fullName") for d in _children(value_set, "valueSetDefinition") for v in _children(d, "value")
        ]
    return spec


def permission_set_definition(name: str, el: ET.Element) -> dict:
    """A ``PermissionSet`` element: its label, description, object and field permissions and user permissions."""
    return {
        "name": name,
        "label": _text(el, "label"),
        "description": _text(el, "description"),
        "objects": [
            {"object": _text(op, "object"), **{key: _flag(op, tag) for tag, key, _label in OBJECT_PERMISSIONS}}
            for op in _children(el, "objectPermissions")
        ],
        "fields": [
            {"field": _text(fp, "field"), "read": _flag(fp, "readable"), "edit": _flag(fp, "editable")}
            for fp in _children(el, "fieldPermissions")
        ],
        "user_permissions": [_text(up, "name") for up in _children(el, "userPermissions") if _flag(up, "enabled")],
    }


def _field_component(object_name: str, el: ET.Element, file_name: str) -> dict:
    full = f"{object_name}.{_text(el, 'fullName') or '?'}"
    try:
        return _component("CustomField", full, file_name, field_definition(object_name, el))
    except ParseProblem as e:
        return _failed("CustomField", full, file_name, e)


def _permission_set_component(name: str, el: ET.Element, file_name: str) -> dict:
    try:
        return _component("PermissionSet", name, file_name, permission_set_definition(name, el))
    except ParseProblem as e:
        return _failed("PermissionSet", name, file_name, e)


# -- the Salesforce DX source of salesforce-package/ -----------------------------------------------------------------
def read_source(package_dir: Path) -> list[dict]:
    """The components of an SFDX project's ``force-app/main/default``: its custom fields and permission sets, named
    as in the Metadata API format (``objects/Activity.object``), so that they deploy exactly as a zip would."""
    base = package_dir / "force-app/main/default"
    out = []
    for path in sorted(base.glob("objects/*/fields/*.field-meta.xml")):
        obj = path.parent.parent.name
        out.append(_field_component(obj, ET.parse(path).getroot(), f"objects/{obj}.object"))
    for path in sorted(base.glob("permissionsets/*.permissionset-meta.xml")):
        name = path.name.split(".")[0]
        out.append(_permission_set_component(name, ET.parse(path).getroot(), f"permissionsets/{name}.permissionset"))
    return out


# -- the Metadata API format of a deployRequest zip ------------------------------------------------------------------
def _zip_error(message: str) -> SFError:
    return SFError("INVALID_ZIP", message)


class _Zip:
    """A deployment zip's files, relative to the folder that holds ``package.xml`` (the root, or its one top-level
    folder)."""

    def __init__(self, data: bytes):
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
            names = [n for n in self.zip.namelist() if not n.endswith("/")]
        except (zipfile.BadZipFile, ValueError, OSError):
            raise _zip_error("The file is not a valid .zip file") from None
        tops = {n.split("/", 1)[0] for n in names}
        if "package.xml" in names:
            self.root = ""
        elif len(tops) == 1 and f"{next(iter(tops))}/package.xml" in names:
            self.root = next(iter(tops)) + "/"
        else:
            raise _zip_error("No package.xml found in the .zip file (at its root, or in its one top-level folder)")
        self.files = {n[len(self.root) :]: n for n in names if n.startswith(self.root)}
        self._parsed: dict[str, ET.Element | Exception] = {}

    def name(self, relative: str) -> str:
        return self.root + relative

    def xml(self, relative: str) -> ET.Element:
        """A file's root element; raises ET.ParseError (or KeyError when absent)."""
        if relative not in self._parsed:
            try:
                self._parsed[relative] = ET.fromstring(self.zip.read(self.files[relative]))
            except ET.ParseError as e:
                self._parsed[relative] = e
        found = self._parsed[relative]
        if isinstance(found, Exception):
            raise found
        return found

    def listed(self, folder: str, suffix: str) -> list[str]:
        """The names of the components in ``folder`` (``objects`` → ``Account`` for ``objects/Account.object``)."""
        return sorted(
            rel[len(folder) + 1 : -len(suffix)]
            for rel in self.files
            if rel.startswith(folder + "/") and rel.endswith(suffix) and rel.count("/") == 1
        )


def _package_types(root: ET.Element) -> dict[str, list[str]]:
    if _local(root.tag) != "Package":
        raise ParseProblem("Error parsing file: package.xml must hold a <Package> element")
    types: dict[str, list[str]] = {}
    for t in _children(root, "types"):
        name = _text(t, "name")
        if not name:
            raise ParseProblem("Error parsing file: every <types> of package.xml needs a <name>")
        types.setdefault(name, []).extend(m.text.strip() for m in _children(t, "members") if m.text)
    return types


def read_zip(data: bytes, allow_missing_files: bool = False) -> list[dict]:
    """The components a deployment zip names in its ``package.xml``, the manifest itself first (componentType
    ``Package``). Raises SFError (400 ``INVALID_ZIP``) for a file that is not a zip or has no package.xml; problems of
    single components (files that do not parse, members without files, unsupported types) are components with a
    ``problem``, which fail the deployment."""
    z = _Zip(data)
    package = _component("Package", "package.xml", z.name("package.xml"), {})
    try:
        types = _package_types(z.xml("package.xml"))
    except (ET.ParseError, ParseProblem) as e:
        return [_failed("Package", "package.xml", z.name("package.xml"), e)]
    out = [package]

    def missing(kind: str, member: str) -> None:
        if not allow_missing_files:
            out.append(
                _component(
                    kind,
                    member,
                    z.name("package.xml"),
                    problem=f"An object '{member}' of type {kind} was named in package.xml, but was not found in "
                    f"zipped directory",
                )
            )

    def object_fields(obj: str) -> list[ET.Element] | None:
        """The <fields> of objects/<obj>.object; None (after adding the failure) when the file does not parse."""
        try:
            return _children(z.xml(f"objects/{obj}.object"), "fields")
        except ET.ParseError as e:
            out.append(_failed("CustomObject", obj, z.name(f"objects/{obj}.object"), e))
            return None

    for kind, members in types.items():
        if kind == "CustomObject":
            for obj in z.listed("objects", ".object") if "*" in members else members:
                if f"objects/{obj}.object" not in z.files:
                    missing(kind, obj)
                    continue
                fields = object_fields(obj)
                if fields is not None:
                    out.append(_component(kind, obj, z.name(f"objects/{obj}.object"), {"object": obj}))
                    out.extend(_field_component(obj, el, z.name(f"objects/{obj}.object")) for el in fields)
        elif kind == "CustomField":
            wanted = [f"{obj}.*" for obj in z.listed("objects", ".object")] if "*" in members else list(members)
            for member in wanted:
                obj, _, field = member.partition(".")
                if f"objects/{obj}.object" not in z.files:
                    missing(kind, member)
                    continue
                fields = object_fields(obj)
                found = [el for el in fields or () if field in ("*", _text(el, "fullName"))]
                if fields is not None and not found:
                    missing(kind, member)
                out.extend(_field_component(obj, el, z.name(f"objects/{obj}.object")) for el in found)
        elif kind == "PermissionSet":
            for name in z.listed("permissionsets", ".permissionset") if "*" in members else members:
                rel = f"permissionsets/{name}.permissionset"
                if rel not in z.files:
                    missing(kind, name)
                    continue
                try:
                    out.append(_permission_set_component(name, z.xml(rel), z.name(rel)))
                except ET.ParseError as e:
                    out.append(_failed(kind, name, z.name(rel), e))
        else:
            out.extend(
                _component(
                    kind,
                    member,
                    z.name("package.xml"),
                    problem=f"sfsim deploys {', '.join(SUPPORTED_TYPES)} components only, not {kind}",
                )
                for member in members
            )
    unique: dict[tuple[str, str], dict] = {}
    for c in out:
        unique.setdefault((c["componentType"], c["fullName"]), c)
    return list(unique.values())


# -- deploying -------------------------------------------------------------------------------------------------------
def _target(store: Store, object_name: str) -> SObject | None:
    """The object a component names (``Activity``: Task, where its fields live), unless it cannot have fields and
    permissions deployed to it (setup and Tooling objects)."""
    o = store.schema.get("Task" if object_name == "Activity" else object_name)
    return None if o is None or o.setup or o.tooling else o


def _field_id(object_name: str, name: str) -> str:
    """A custom field's Id (``00N``), stable for its name."""
    digest = hashlib.sha256(f"{object_name}.{name}".lower().encode()).hexdigest()
    return ids.make_id("00N", int(digest[:12], 16) % 62**9)


def _comparable(spec: dict) -> dict:
    """A field spec's settings, with left-out keys as their defaults (relationship names are kept as they were)."""
    out = {}
    for key in objects.FIELD_KEYS:
        if key not in ("relationshipName", "childRelationshipName"):
            value = spec.get(key)
            out[key] = SPEC_DEFAULTS.get(key) if value is None or value == "" else value
    return out


def _deploy_object(store: Store, conn: sqlite3.Connection, now: str, d: dict, namespace: str | None) -> Outcome:
    if _target(store, d["object"]) is None:
        raise DeployProblem(
            f"sfsim does not create objects through a deployment: no object named {d['object']} "
            f"(create custom objects with POST /_sfsim/objects)"
        )
    return False, False, None


def _deploy_field(store: Store, conn: sqlite3.Connection, now: str, d: dict, namespace: str | None) -> Outcome:
    obj, name = d["object"], d["name"]
    target = _target(store, obj)
    if target is None:
        raise DeployProblem(f"Cannot deploy {obj}.{name}: no CustomObject named {obj} found")
    owner = "Activity" if obj == "Activity" else target.name
    if d.get("standard"):
        if target.field(name) is None:
            raise DeployProblem(f"{obj} has no standard field named {name}; the name of a custom field ends in __c")
        return False, False, None
    if obj in ("Task", "Event"):
        raise DeployProblem(f"Custom fields of tasks and events are defined on Activity: deploy Activity.{name}")
    row = conn.execute(
        "SELECT name, spec FROM _sfsim_custom_fields WHERE object = ? AND name = ? COLLATE NOCASE", (owner, name)
    ).fetchone()
    spec = {**d, "object": owner}
    if row is None:
        objects.add_field(store, conn, now, spec)
        return True, True, _field_id(owner, name)
    stored_name, old = row[0], json.loads(row[1])
    new = objects.field_spec(store.schema, owner, spec)
    was, becomes = old.get("type"), new["type"]
    if (was, bool(old.get("masterDetail"))) != (becomes, bool(new.get("masterDetail"))):
        raise DeployProblem(
            f"Cannot change the type of {obj}.{stored_name} from {SETUP_TYPE_NAMES.get(was, was)} to "
            f"{SETUP_TYPE_NAMES.get(becomes, becomes)}"
        )
    if becomes == "reference":
        if sorted(old.get("referenceTo") or []) != sorted(new["referenceTo"]):
            raise DeployProblem(f"Cannot change which object the relationship field {obj}.{stored_name} references")
        for key in ("relationshipName", "childRelationshipName", "relationshipOrder"):
            if key in old:
                new[key] = old[key]
    new["name"] = stored_name
    if _comparable(old) == _comparable(new):
        return False, False, _field_id(owner, stored_name)
    if old.get("calculatedFormula") != new.get("calculatedFormula"):
        store.drop_columns(conn, owner, stored_name)  # a formula is computed, a plain field stored
    store.save_custom_field(conn, new)
    return False, True, _field_id(owner, stored_name)


def _check_permission_set(store: Store, d: dict) -> tuple[list[tuple], list[tuple], set[str]]:
    """The rows a permission set should have — ObjectPermissions (object, read, create, edit, delete, view all,
    modify all), FieldPermissions (Object.Field, read, edit) — and its user permissions; raises DeployProblem with
    every problem found."""
    problems = []
    name = d["name"]
    if not _PERMISSION_SET_NAME.match(name):
        problems.append(
            f"The permission set name {name!r} must begin with a letter and use only letters, digits and single "
            f"underscores, at most 80 characters"
        )
    if not d.get("label"):
        problems.append("Must specify a non-empty label for the PermissionSet")
    object_rows = []
    for op in d["objects"]:
        obj = op["object"] or ""
        o = _target(store, obj)
        if o is None or o.name in ("Task", "Event", "User") or obj == "Activity":
            problems.append(f"In field: object - no CustomObject named {obj} found")
            continue
        granted = {key for _tag, key, _label in OBJECT_PERMISSIONS if op[key]}
        for key in sorted(granted, key=[k for _t, k, _l in OBJECT_PERMISSIONS].index):
            lacking = [k for k in PERMISSION_NEEDS.get(key, ()) if k not in granted]
            if lacking:
                labels = {k: label for _t, k, label in OBJECT_PERMISSIONS}
                problems.append(
                    f"Permission {labels[key]} {o.name} depends on permission(s): "
                    + ", ".join(f"{labels[k]} {o.name}" for k in lacking)
                )
        if granted:
            object_rows.append((o.name, *(op[key] for _t, key, _l in OBJECT_PERMISSIONS)))
    field_rows = []
    for fp in d["fields"]:
        full = fp["field"] or ""
        obj, _, fname = full.partition(".")
        targets = ["Task", "Event"] if obj == "Activity" else [obj]
        found = [(o, o.field(fname)) for o in (_target(store, t) for t in targets) if o is not None]
        if not fname or len(found) != len(targets) or any(f is None for _o, f in found):
            problems.append(f"In field: field - no CustomField named {full} found")
            continue
        for o, f in found:
            if not f.permissionable:
                problems.append(
                    f"You cannot deploy to a required field: {full}"
                    if not f.nillable and f.type != "boolean"
                    else f"In field: field - {full} is not under field-level security, so it takes no permissions"
                )
            elif fp["read"] or fp["edit"]:
                field_rows.append((f"{o.name}.{f.name}", True, fp["edit"]))
    if problems:
        raise DeployProblem(*problems)
    # User permissions sfsim does not model are left out (a real org knows hundreds).
    user_perms = {p for p in d["user_permissions"] if p in USER_PERMISSION_NAMES}
    return object_rows, field_rows, user_perms


def _deploy_permission_set(store: Store, conn: sqlite3.Connection, now: str, d: dict, namespace: str | None) -> Outcome:
    object_rows, field_rows, user_perms = _check_permission_set(store, d)
    columns = {
        "Label": d["label"],
        "Description": d.get("description") or "",
        **{column: short in user_perms for short, column in USER_PERMISSION_NAMES.items()},
    }
    b = SetupBuilder(store, conn, now)
    existing = conn.execute(
        f'SELECT "Id", {", ".join(map(quote, columns))} FROM "PermissionSet" '
        f'WHERE "Name" = ? AND "IsOwnedByProfile" = 0 AND "IsDeleted" = 0',
        (d["name"],),
    ).fetchone()
    if existing is None:
        ps = b.permission_set(
            d["name"], d["label"], namespace=namespace, user_perms=user_perms, description=columns["Description"]
        )
        created = changed = True
        old_objects, old_fields = set(), set()
    else:
        ps, created = existing[0], False
        old = dict(zip(columns, existing[1:], strict=True))
        changed = any(old[k] != (int(v) if isinstance(v, bool) else v) for k, v in columns.items())
        if changed:
            conn.execute(
                f'UPDATE "PermissionSet" SET {", ".join(f"{quote(k)} = ?" for k in columns)}, '
                f'"LastModifiedDate" = ?, "SystemModstamp" = ? WHERE "Id" = ?',
                [*columns.values(), now, now, ps],
            )
        old_objects = {
            (r[0], *map(bool, r[1:]))
            for r in conn.execute(
                'SELECT "SobjectType", "PermissionsRead", "PermissionsCreate", "PermissionsEdit", "PermissionsDelete", '
                '"PermissionsViewAllRecords", "PermissionsModifyAllRecords" FROM "ObjectPermissions" '
                'WHERE "ParentId" = ?',
                (ps,),
            )
        }
        old_fields = {
            (r[0], bool(r[1]), bool(r[2]))
            for r in conn.execute(
                'SELECT "Field", "PermissionsRead", "PermissionsEdit" FROM "FieldPermissions" WHERE "ParentId" = ?',
                (ps,),
            )
        }
    if old_objects != set(object_rows):
        changed = True
        conn.execute('DELETE FROM "ObjectPermissions" WHERE "ParentId" = ?', (ps,))
        for row in object_rows:
            b.object_perm(ps, *row)
    if old_fields != set(field_rows):
        changed = True
        conn.execute('DELETE FROM "FieldPermissions" WHERE "ParentId" = ?', (ps,))
        for full, read, edit in field_rows:
            obj, field = full.split(".", 1)
            b.field_perm(ps, obj, field, read, edit)
    return created, changed, ps


def _deploy_manifest(store: Store, conn: sqlite3.Connection, now: str, d: dict, namespace: str | None) -> Outcome:
    return False, False, None  # package.xml: its "changed" is whether anything else changed


APPLY: dict[str, Callable[..., Outcome]] = {
    "Package": _deploy_manifest,
    "CustomObject": _deploy_object,
    "CustomField": _deploy_field,
    "PermissionSet": _deploy_permission_set,
}


def _result(c: dict, now: str, problem: str | None = None, outcome: Outcome = (False, False, None)) -> dict:
    created, changed, rid = outcome
    return {
        "changed": changed,
        "columnNumber": c.get("columnNumber") if problem else None,
        "componentType": c["componentType"],
        "created": created,
        "createdDate": now,
        "deleted": False,
        "fileName": c["fileName"],
        "forPackageManifestFile": c["componentType"] == "Package",
        "fullName": c["fullName"],
        "id": rid,
        "knownPackagingProblem": False,
        "lineNumber": c.get("lineNumber") if problem else None,
        "problem": problem,
        "problemType": "Error" if problem else None,
        "requiresProductionTestRun": False,
        "success": problem is None,
        "warning": False,
    }


def _deploy_one(store: Store, conn: sqlite3.Connection, now: str, c: dict, namespace: str | None) -> list[dict]:
    if c.get("problem"):
        return [_result(c, now, c["problem"])]
    try:
        with store.savepoint(conn):
            outcome = APPLY[c["componentType"]](store, conn, now, c["definition"], namespace)
    except DeployProblem as e:
        return [_result(c, now, message) for message in e.messages]
    except ValueError as e:  # objects.field_spec / add_field say what is wrong with a field
        return [_result(c, now, str(e))]
    return [_result(c, now, outcome=outcome)]


def deploy(
    store: Store,
    conn: sqlite3.Connection,
    now: str,
    components: list[dict],
    *,
    check_only: bool = False,
    rollback_on_error: bool = True,
    namespace: str | None = None,
) -> list[dict]:
    """Deploys components inside the caller's set-up transaction; returns one result per component (one per
    problem for a failed one), in the order deployed. With ``rollback_on_error`` a single failure undoes all of it;
    ``check_only`` undoes it in any case (a validation). New permission sets get ``namespace``."""
    conn.execute("SAVEPOINT deploy")
    results: list[dict] = []
    for c in sorted(components, key=lambda c: APPLY_ORDER.get(c["componentType"], len(APPLY_ORDER))):
        results.extend(_deploy_one(store, conn, now, c, namespace))
    for r in results:
        # An object, and the manifest, changed when something deployed with it did.
        if r["success"] and r["componentType"] in ("Package", "CustomObject"):
            prefix = "" if r["componentType"] == "Package" else r["fullName"] + "."
            r["changed"] = any(o["changed"] and o["fullName"].startswith(prefix) for o in results if o is not r)
    failed = any(not r["success"] for r in results)
    if check_only or (failed and rollback_on_error):
        conn.execute("ROLLBACK TO deploy")
        conn.execute("RELEASE deploy")
        store.reload_schema(conn)  # the in-memory schema may hold fields that were rolled back
    else:
        conn.execute("RELEASE deploy")
    return results
