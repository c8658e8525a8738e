"""The org's metadata: standard objects from recorded describes, sfsim's overlay and objects, and custom fields.

``standard/`` holds unedited copies of real describes (see ``standard/SOURCE.md``); ``overlay.json`` fills the keys
the trimmed recordings lack; ``sfsim_objects.json`` describes the objects the recordings do not cover;
``builtin_custom_fields.json`` lists the custom fields a new org starts with. Custom fields live in the org database
(so schema drift survives restarts) and are merged in by :func:`build_schema`.
"""

import copy
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

HERE = Path(__file__).parent
STANDARD_OBJECTS = [
    "Account",
    "Case",
    "Contact",
    "Event",
    "Lead",
    "Opportunity",
    "OpportunityLineItem",
    "Product2",
    "Task",
    "User",
]
SYSTEM_FIELDS = (
    "Id",
    "IsDeleted",
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "LastModifiedById",
    "SystemModstamp",
)
# Fields Salesforce maintains itself: never createable or updateable, never subject to field-level security.
AUDIT_FIELDS = frozenset(SYSTEM_FIELDS)
# The parts of a person's compound Name (Contact, Lead, User): like the Name itself, everyone who can read the record
# sees them (a real Lead describe reports FirstName and Salutation "permissionable": false).
PERSON_NAME_PARTS = frozenset({"Salutation", "FirstName", "MiddleName", "LastName", "Suffix"})
TEXT_TYPES = frozenset(
    {"string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "combobox", "encryptedstring"}
)
NUMBER_TYPES = frozenset({"int", "double", "currency", "percent"})
COMPOUND_TYPES = frozenset({"address", "location"})
DEFAULT_LENGTH = {
    "id": 18,
    "reference": 18,
    "string": 255,
    "textarea": 32000,
    "email": 80,
    "phone": 40,
    "url": 255,
    "picklist": 255,
    "combobox": 255,
    "multipicklist": 4099,
    "encryptedstring": 175,
}
SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "time": "xsd:time",
    "address": "urn:address",
    "location": "urn:location",
}
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass
class Field:
    name: str
    label: str
    type: str
    length: int = 0
    precision: int = 0
    scale: int = 0
    digits: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    calculated: bool = False
    formula: str | None = None
    external_id: bool = False
    unique: bool = False
    case_sensitive: bool = False
    defaulted_on_create: bool = False
    default_value: object = None
    custom: bool = False
    picklist: list[str] = field(default_factory=list)
    restricted: bool = False
    reference_to: list[str] = field(default_factory=list)
    relationship_name: str | None = None
    cascade_delete: bool = False
    name_field: bool = False
    auto_number: bool = False
    display_format: str | None = None  # an Auto Number's format, e.g. "M-{0000}"
    start_number: int = 1
    # A master-detail field: 0 (or 1 for a junction's second master); None for every other field.
    relationship_order: int | None = None
    write_requires_master_read: bool = False
    child_relationship_name: str | None = None  # the name the parent's describe lists (e.g. "Milestones__r")
    compound_of: tuple[str, ...] = ()
    # An explicit "permissionable" from a describe (a fact recorded from a real org); None derives it (below).
    fls: bool | None = None

    @property
    def stored(self) -> bool:
        return not self.calculated and self.type not in COMPOUND_TYPES

    @property
    def permissionable(self) -> bool:
        """Whether field-level security (FieldPermissions) governs the field. Salesforce exempts the Id, the audit
        fields, OwnerId, the name field and a person's name parts, and required fields (not nillable; checkboxes are
        never nillable, so that alone does not make one required): those have no FieldPermissions rows and are
        visible to everyone who can read the object."""
        if self.fls is not None:
            return self.fls
        if self.name in AUDIT_FIELDS or self.type == "id" or self.name == "OwnerId" or self.name_field:
            return False
        if not self.custom and self.name in PERSON_NAME_PARTS:
            return False
        return self.nillable or self.type == "boolean"

    @property
    def sql_type(self) -> str:
        if self.type in TEXT_TYPES:
            return "TEXT COLLATE NOCASE"
        if self.type in ("boolean", "int"):
            return "INTEGER"
        if self.type in ("double", "currency", "percent"):
            return "REAL"
        return "TEXT"

    def describe(self) -> dict:
        t = self.type
        is_text = t in TEXT_TYPES or t in ("id", "reference")
        return {
            "aggregatable": t not in ("textarea", "multipicklist", "address", "location"),
            "autoNumber": self.auto_number,
            "byteLength": self.length * 3 if is_text else 0,
            "calculated": self.calculated,
            "calculatedFormula": self.formula,
            "cascadeDelete": self.cascade_delete,
            "caseSensitive": self.case_sensitive,
            "compoundFieldName": None,
            "createable": self.createable,
            "custom": self.custom,
            "defaultValue": self.default_value,
            "defaultedOnCreate": self.defaulted_on_create,
            "dependentPicklist": False,
            "digits": self.digits,
            "externalId": self.external_id,
            "filterable": t not in ("textarea", "address", "location"),
            "groupable": t not in ("textarea", "double", "currency", "percent", "datetime", "address", "location"),
            "htmlFormatted": False,
            "idLookup": t == "id" or self.external_id or self.auto_number or (self.name == "Username"),
            "inlineHelpText": None,
            "label": self.label,
            "length": self.length if is_text else 0,
            "name": self.name,
            "nameField": self.name_field,
            "nillable": self.nillable,
            "permissionable": self.permissionable,
            "picklistValues": [
                {"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v} for v in self.picklist
            ],
            "precision": self.precision,
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "relationshipOrder": self.relationship_order,
            "restrictedPicklist": self.restricted,
            "scale": self.scale,
            "soapType": SOAP_TYPES.get(t, "xsd:string"),
            "sortable": t not in ("textarea", "multipicklist", "address", "location"),
            "type": t,
            "unique": self.unique,
            "updateable": self.updateable,
            "writeRequiresMasterRead": self.write_requires_master_read,
        }


@dataclass
class SObject:
    name: str
    label: str
    label_plural: str
    key_prefix: str
    custom: bool = False
    setup: bool = False
    tooling: bool = False
    flags: dict = field(default_factory=dict)
    fields: dict[str, Field] = field(default_factory=dict)  # keyed by lower-case name, in describe order
    # relationship name (lower case) -> reference field
    relationships: dict[str, Field] = field(default_factory=dict)
    children: list[tuple[str, Field]] = field(default_factory=list)
    created: bool = False  # a custom object created through the control API (which may delete it)
    _stored: list[Field] | None = field(default=None, repr=False)
    _name: Field | bool | None = field(default=False, repr=False)  # False: not looked for since the last change

    def field(self, name: str) -> Field | None:
        return self.fields.get(name.lower())

    def add(self, f: Field) -> None:
        self.fields[f.name.lower()] = f
        self._stored = None
        self._name = False
        if f.type == "reference" and f.relationship_name:
            self.relationships[f.relationship_name.lower()] = f

    def remove(self, name: str) -> None:
        self._stored = None
        self._name = False
        f = self.fields.pop(name.lower(), None)
        if f is not None and f.relationship_name:
            self.relationships.pop(f.relationship_name.lower(), None)

    @property
    def stored_fields(self) -> list[Field]:
        if self._stored is None:
            self._stored = [f for f in self.fields.values() if f.stored]
        return self._stored

    @property
    def writable(self) -> bool:
        return not self.setup and not self.tooling

    @property
    def name_field(self) -> Field | None:
        """The field the describe marks ``nameField`` (what a record is called): ``Name`` on most objects, the Auto
        Number ``CaseNumber`` on Case; None on objects without one (Task's Subject is not)."""
        if self._name is False:
            self._name = next((f for f in self.fields.values() if f.name_field), None)
        return self._name

    def summary(self, version: str) -> dict:
        base = f"/services/data/v{version}/sobjects/{self.name}"
        writable = self.writable
        out = {
            "activateable": False,
            "createable": writable,
            "custom": self.custom,
            "customSetting": False,
            "deepCloneable": False,
            "deletable": writable,
            "deprecatedAndHidden": False,
            "feedEnabled": False,
            "hasSubtypes": False,
            "isInterface": False,
            "isSubtype": False,
            "keyPrefix": self.key_prefix,
            "label": self.label,
            "labelPlural": self.label_plural,
            "layoutable": writable,
            "mergeable": False,
            "mruEnabled": writable,
            "name": self.name,
            "queryable": True,
            "replicateable": True,
            "retrieveable": True,
            "searchable": writable,
            "triggerable": writable,
            "undeletable": writable,
            "updateable": writable,
            "urls": {
                "rowTemplate": f"{base}/{{ID}}",
                "defaultValues": f"{base}/defaultValues?recordTypeId&fields",
                "describe": f"{base}/describe",
                "sobject": base,
            },
        }
        out.update(self.flags)
        return out


def _humanize(name: str) -> str:
    base = name[:-3] if name.endswith("__c") else name
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", base).replace("_", " ").strip()


def field_from_describe(d: dict, custom: bool = False) -> Field:
    t = d["type"]
    ref = list(d.get("referenceTo") or [])
    picklist = [v if isinstance(v, str) else v["value"] for v in d.get("picklistValues") or []]
    formula = d.get("calculatedFormula")
    calculated = bool(d.get("calculated")) or formula is not None
    master_detail = bool(d.get("masterDetail"))
    f = Field(
        name=d["name"],
        label=d.get("label") or _humanize(d["name"]),
        type=t,
        length=d.get("length", DEFAULT_LENGTH.get(t, 0)) if (t in TEXT_TYPES or t in ("id", "reference")) else 0,
        precision=d.get("precision", 18 if t in ("currency", "double") else (3 if t == "percent" else 0)),
        scale=d.get("scale", 2 if t == "currency" else 0),
        digits=d.get("digits", 9 if t == "int" else 0),
        nillable=d.get("nillable", t != "boolean"),
        createable=d.get("createable", not calculated) and not calculated,
        updateable=d.get("updateable", not calculated) and not calculated,
        calculated=calculated,
        formula=formula,
        external_id=d.get("externalId", False),
        unique=d.get("unique", False),
        case_sensitive=d.get("caseSensitive", False),
        defaulted_on_create=d.get("defaultedOnCreate", t == "boolean"),
        default_value=d.get("defaultValue"),
        custom=custom or d["name"].endswith("__c"),
        picklist=picklist,
        restricted=d.get("restrictedPicklist", False),
        reference_to=ref,
        relationship_name=d.get("relationshipName"),
        cascade_delete=d.get("cascadeDelete", master_detail),
        name_field=d.get("nameField", d["name"] == "Name"),
        auto_number=bool(d.get("autoNumber")),
        display_format=d.get("displayFormat"),
        start_number=int(d.get("startingNumber", 1)),
        relationship_order=d.get("relationshipOrder", 0) if master_detail else None,
        write_requires_master_read=bool(d.get("writeRequiresMasterRead")),
        child_relationship_name=d.get("childRelationshipName"),
        fls=d.get("permissionable"),
    )
    if master_detail:
        # Salesforce: required, and fixed once set unless the field allows reparenting.
        f.nillable = False
        f.updateable = bool(d.get("reparentableMasterDetail")) and not calculated
    if t == "boolean":
        f.nillable = False
        f.defaulted_on_create = True
    return f


def _system_field(name: str, obj_name: str) -> Field:
    if name == "Id":
        return Field(
            "Id",
            f"{obj_name} ID",
            "id",
            length=18,
            nillable=False,
            createable=False,
            updateable=False,
            defaulted_on_create=True,
        )
    if name == "IsDeleted":
        return Field(
            "IsDeleted",
            "Deleted",
            "boolean",
            nillable=False,
            createable=False,
            updateable=False,
            defaulted_on_create=True,
        )
    if name.endswith("ById"):
        rel = name[:-2]
        return Field(
            name,
            "Created By ID" if rel == "CreatedBy" else "Last Modified By ID",
            "reference",
            length=18,
            nillable=False,
            createable=False,
            updateable=False,
            defaulted_on_create=True,
            reference_to=["User"],
            relationship_name=rel,
        )
    label = {
        "CreatedDate": "Created Date",
        "LastModifiedDate": "Last Modified Date",
        "SystemModstamp": "System Modstamp",
    }[name]
    return Field(name, label, "datetime", nillable=False, createable=False, updateable=False, defaulted_on_create=True)


# Compound address fields: the components they gather, by prefix.
_ADDRESS_PARTS = ("Street", "City", "State", "PostalCode", "Country", "Latitude", "Longitude", "GeocodeAccuracy")


@cache
def _base_objects() -> tuple[dict, ...]:
    overlay = json.loads((HERE / "overlay.json").read_text())
    out = []
    for name in STANDARD_OBJECTS:
        d = json.loads((HERE / "standard" / f"{name}.json").read_text())
        fields = []
        for fd in d["fields"]:
            merged = dict(fd)
            for k, v in overlay["fields"].get(name, {}).get(fd["name"], {}).items():
                merged.setdefault(k, v)
            if fd["name"] in overlay["not_permissionable"].get(name, ()):
                merged.setdefault("permissionable", False)
            fields.append(merged)
        fields.extend(overlay["added_fields"].get(name, []))
        out.append(
            {
                "name": name,
                "keyPrefix": d["keyPrefix"],
                "label": d["label"],
                **overlay["objects"].get(name, {}),
                "fields": fields,
            }
        )
    for d in json.loads((HERE / "sfsim_objects.json").read_text())["objects"]:
        out.append(d)
    return tuple(out)


def builtin_custom_fields() -> list[dict]:
    return json.loads((HERE / "builtin_custom_fields.json").read_text())["fields"]


class Schema:
    """All objects of the org, data and setup, plus the Tooling objects (kept apart in ``tooling``)."""

    def __init__(self, objects: dict[str, SObject]):
        self.objects = objects  # lower-case name -> SObject
        self.by_prefix = {o.key_prefix: o for o in objects.values()}

    def get(self, name: str, tooling: bool = False) -> SObject | None:
        o = self.objects.get(name.lower())
        if o is None or o.tooling != tooling:
            return None
        return o

    def data_objects(self) -> list[SObject]:
        return [o for o in self.objects.values() if not o.tooling]


def activity_targets(object_name: str) -> list[str]:
    """Custom fields defined on Activity live on both Task and Event."""
    return ["Task", "Event"] if object_name == "Activity" else [object_name]


def custom_object_entry(spec: dict, detail: bool) -> dict:
    """A custom object created through the control API, as an entry like those of ``sfsim_objects.json``: its Name
    field (Text, or an Auto Number), and OwnerId unless it is the detail side of a master-detail relationship (its
    records then belong to their master's owner, and Salesforce's describe has no OwnerId)."""
    name_spec = spec.get("nameField") or {}
    label = name_spec.get("label") or f"{spec['label']} Name"
    if name_spec.get("type") == "AutoNumber":
        name = {
            "name": "Name",
            "label": label,
            "type": "string",
            "length": 30,
            "autoNumber": True,
            "displayFormat": name_spec["displayFormat"],
            "startingNumber": name_spec.get("startingNumber", 1),
            "createable": False,
            "updateable": False,
            "nillable": False,
            "defaultedOnCreate": True,
        }
    else:
        # A record created through the API without a Name gets its Id as the Name, so the field is defaulted.
        name = {"name": "Name", "label": label, "type": "string", "length": 80, "defaultedOnCreate": True}
    return {
        "name": spec["name"],
        "keyPrefix": spec["keyPrefix"],
        "label": spec["label"],
        "labelPlural": spec["pluralLabel"],
        "custom": True,
        "owned": not detail,
        "created": True,
        "fields": [name],
    }


def build_schema(custom_fields: list[dict], custom_objects: Iterable[dict] = ()) -> Schema:
    objects: dict[str, SObject] = {}
    details = {cf["object"].lower() for cf in custom_fields if cf.get("masterDetail")}
    entries = [
        *copy.deepcopy(list(_base_objects())),
        *(custom_object_entry(spec, spec["name"].lower() in details) for spec in custom_objects),
    ]
    for d in entries:
        name = d["name"]
        o = SObject(
            name=name,
            label=d.get("label", name),
            label_plural=d.get("labelPlural", d.get("label", name) + "s"),
            key_prefix=d["keyPrefix"],
            custom=d.get("custom", False),
            setup=d.get("setup", False),
            tooling=d.get("tooling", False),
            flags={k: d[k] for k in ("createable", "mergeable", "deletable", "undeletable") if k in d},
            created=d.get("created", False),
        )
        given = {fd["name"] for fd in d["fields"]}
        if "Id" not in given:
            o.add(_system_field("Id", o.label))
        for fd in d["fields"]:
            o.add(field_from_describe(fd))
        if d.get("owned") and "OwnerId" not in given:
            o.add(
                Field(
                    "OwnerId",
                    "Owner ID",
                    "reference",
                    length=18,
                    nillable=False,
                    defaulted_on_create=True,
                    reference_to=["User"],
                    relationship_name="Owner",
                )
            )
        for sys_name in SYSTEM_FIELDS[1:]:
            if sys_name not in given:
                o.add(_system_field(sys_name, o.label))
        for f in o.fields.values():
            if f.type == "address":
                prefix = f.name[: -len("Address")]
                f.compound_of = tuple(p for p in (prefix + part for part in _ADDRESS_PARTS) if o.field(p))
        objects[name.lower()] = o
    for cf in custom_fields:
        for target in activity_targets(cf["object"]):
            o = objects.get(target.lower())
            if o is not None:
                o.add(field_from_describe(cf, custom=True))
    _link_children(objects)
    return Schema(objects)


# Salesforce's cascade deletes among the objects sfsim has: deleting the parent deletes these children.
CASCADES = {
    ("Contact", "AccountId"),
    ("Opportunity", "AccountId"),
    ("OpportunityLineItem", "OpportunityId"),
    ("PricebookEntry", "Product2Id"),
    ("PricebookEntry", "Pricebook2Id"),
}
CHILD_RELATIONSHIP_NAMES = {
    ("Contact", "AccountId"): "Contacts",
    ("Opportunity", "AccountId"): "Opportunities",
    ("OpportunityLineItem", "OpportunityId"): "OpportunityLineItems",
    ("Task", "WhatId"): "Tasks",
    ("Event", "WhatId"): "Events",
    ("Task", "WhoId"): "Tasks",
    ("Event", "WhoId"): "Events",
    ("Case", "AccountId"): "Cases",
    ("Case", "ContactId"): "Cases",
    ("Case", "ParentId"): "Cases",
    ("Project__c", "Account__c"): "Projects__r",
    ("Lead", "ConvertedAccountId"): None,
}


def _link_children(objects: dict[str, SObject]) -> None:
    for child in objects.values():
        for f in child.fields.values():
            if f.type != "reference":
                continue
            if (child.name, f.name) in CASCADES:
                f.cascade_delete = True
            for target in f.reference_to:
                parent = objects.get(target.lower())
                if parent is not None and parent.tooling == child.tooling:
                    parent.children.append((child.name, f))


def child_relationships(o: SObject) -> list[dict]:
    out = []
    for child_name, f in o.children:
        out.append(
            {
                "cascadeDelete": f.cascade_delete,
                "childSObject": child_name,
                "deprecatedAndHidden": False,
                "field": f.name,
                "junctionIdListNames": [],
                "junctionReferenceTo": [],
                "relationshipName": f.child_relationship_name or CHILD_RELATIONSHIP_NAMES.get((child_name, f.name)),
                "restrictedDelete": False,
            }
        )
    return out


MAX_CUSTOM_NAME = 40  # characters of a custom object's or field's name before "__c"


def check_custom_name(name: object, what: str) -> str:
    """A custom object's or field's API name as Salesforce accepts it: ends with ``__c``; before that, at most 40
    letters, digits and single underscores, starting with a letter and not ending with an underscore. Raises
    ValueError saying what is wrong."""
    if not isinstance(name, str) or not name.endswith("__c"):
        raise ValueError(f"{what} API name {name!r} must end with __c")
    base = name[:-3]
    if not base or not base[0].isascii() or not base[0].isalpha():
        raise ValueError(f"{what} API name {name!r} must start with a letter")
    if not _NAME_RE.fullmatch(base):
        raise ValueError(f"{what} API name {name!r} may only contain letters, digits and underscores")
    if "__" in base or base.endswith("_"):
        raise ValueError(f"{what} API name {name!r} cannot contain two underscores in a row or end with one")
    if len(base) > MAX_CUSTOM_NAME:
        raise ValueError(f"{what} API name {name!r} is longer than {MAX_CUSTOM_NAME} characters before __c")
    return name
