"""Prerequisite checks of a connected org, each with what was found and the fix in the admin's words.

Reads the org's own setup data (Organization, User, Profile, UserLicense, PermissionSet, PermissionSetAssignment,
ObjectPermissions), describes, and the Tooling API, in as few calls as possible: one Composite call (setup queries
and the describes), one for object permissions, and a Tooling query only when the package's permission set is
missing (to tell "not installed" from "installed but not assigned").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote

from integrations.salesforce import soql
from integrations.salesforce.client import SalesforceClient
from integrations.salesforce.errors import ApiDisabledError
from mappings.defaults import BASIC_FIELDS, READ_ONLY_OBJECTS, STANDARD_OBJECTS

PASS, WARN, FAIL, SKIPPED = "pass", "warn", "fail", "skipped"

API_EDITIONS = ("Enterprise Edition", "Unlimited Edition", "Performance Edition", "Developer Edition")
PERMISSION_SET_NAME = "Rox_Integration"
PERMISSION_SET_LABEL = "Rox Integration"
ACTIVITY_ID_FIELD = "RoxActivityId__c"
ACTIVITY_ID_LENGTH = 100
GOOD_LICENCES = ("Salesforce", "Salesforce Integration")
ADMIN_PROFILE = "System Administrator"
SETUP_PATH = "Setup → Users → Users"
ACTIVITY_OBJECTS = {"Task": "PermissionsEditTask", "Event": "PermissionsEditEvent"}
COMPOSITE_MAX = 25  # subrequests in one Composite call


@dataclass
class Check:
    key: str
    title: str
    status: str
    found: str
    fix: str = ""


@dataclass
class PreflightReport:
    checks: list[Check] = field(default_factory=list)
    org_name: str = ""
    edition: str = ""
    is_sandbox: bool = False
    package_installed: bool | None = None
    describes: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(check.status in (PASS, WARN) for check in self.checks)

    @property
    def has_warnings(self) -> bool:
        return any(check.status == WARN for check in self.checks)

    def status_of(self, key: str) -> str | None:
        return next((c.status for c in self.checks if c.key == key), None)

    def as_details(self) -> dict[str, Any]:
        return {
            "checks": [asdict(c) for c in self.checks],
            "org_name": self.org_name,
            "edition": self.edition,
            "is_sandbox": self.is_sandbox,
            "package_installed": self.package_installed,
        }


def run_preflight(
    client: SalesforceClient,
    *,
    extra_objects: Iterable[str] = (),
    extra_fields: dict[str, list[str]] | None = None,
) -> PreflightReport:
    """Check everything Rox needs of the connected org and integration user. Raises only on transient or
    configuration errors other than missing API access (which becomes failed checks). ``extra_objects``: the
    objects the organization added (Read and Edit on each), with ``extra_fields`` the fields mapped on them."""
    report = PreflightReport()
    connection = client.connection
    objects = [*STANDARD_OBJECTS, *[o for o in extra_objects if o not in STANDARD_OBJECTS]]
    user_id = connection.sf_user_id
    describes = [client.subrequest(f"describe_{name}", f"sobjects/{name}/describe/") for name in objects]
    try:
        first = client.composite(
            [
                client.subrequest(
                    "org", "query/?q=" + _q("SELECT Id, Name, OrganizationType, IsSandbox FROM Organization")
                ),
                client.subrequest(
                    "user",
                    "query/?q="
                    + _q(
                        "SELECT Id, Username, IsActive, ProfileId, Profile.Name, Profile.PermissionsApiEnabled, "
                        "Profile.PermissionsEditTask, Profile.PermissionsEditEvent, Profile.UserLicense.Name "
                        f"FROM User WHERE Id = {soql.literal(user_id)}"
                    ),
                ),
                client.subrequest(
                    "assignments",
                    "query/?q="
                    + _q(
                        "SELECT PermissionSetId, PermissionSet.Name, PermissionSet.Label, "
                        "PermissionSet.IsOwnedByProfile, PermissionSet.PermissionsApiEnabled, "
                        "PermissionSet.PermissionsEditTask, PermissionSet.PermissionsEditEvent "
                        f"FROM PermissionSetAssignment WHERE AssigneeId = {soql.literal(user_id)}"
                    ),
                ),
                client.subrequest(
                    "roxps",
                    "query/?q="
                    + _q(
                        "SELECT Id, Name, Label, NamespacePrefix FROM PermissionSet "
                        f"WHERE Name = {soql.literal(PERMISSION_SET_NAME)}"
                    ),
                ),
                *describes[: COMPOSITE_MAX - 4],
            ]
        )
        # Describes of many added objects go on in further Composite calls (25 subrequests each).
        for start in range(COMPOSITE_MAX - 4, len(describes), COMPOSITE_MAX):
            first += client.composite(describes[start : start + COMPOSITE_MAX])
    except ApiDisabledError as exc:
        return _without_api(report, exc)
    results = {item["referenceId"]: item for item in first}

    org = _records(results["org"])[0] if _records(results["org"]) else {}
    report.org_name = org.get("Name", "")
    report.edition = org.get("OrganizationType", "")
    report.is_sandbox = bool(org.get("IsSandbox"))
    user = (_records(results["user"]) or [{}])[0]
    profile = user.get("Profile") or {}
    assignments = _records(results["assignments"])
    rox_sets = _records(results["roxps"])
    for name in objects:
        item = results[f"describe_{name}"]
        if item["httpStatusCode"] == 200:
            report.describes[name] = item["body"]

    permission_set_ids = [a["PermissionSetId"] for a in assignments]
    object_rows = _object_permissions(
        client,
        permission_set_ids,
        profile_id=user.get("ProfileId", ""),
        objects=[o for o in objects if o not in ACTIVITY_OBJECTS],
    )
    object_rows.update(_activity_permissions(profile, assignments, report.describes))

    report.checks.append(_edition_check(report.edition))
    report.checks.append(_licence_check(user, connection.sf_username))
    grants_everything = _grants_everything(object_rows, objects)
    report.checks.append(_profile_check(profile, user, grants_everything))
    report.checks.append(_api_check(profile, assignments))
    assigned = any((a.get("PermissionSet") or {}).get("Name") == PERMISSION_SET_NAME for a in assignments)
    if not rox_sets:
        report.package_installed = _package_installed(client)
    else:
        report.package_installed = True
    report.checks.append(_package_check(bool(rox_sets), assigned, report.package_installed, connection.sf_username))
    report.checks.extend(_activity_id_checks(report.describes))
    report.checks.extend(_object_checks(object_rows, objects, report.describes))
    report.checks.extend(_field_checks(report.describes, {**BASIC_FIELDS, **(extra_fields or {})}))
    return report


# -- individual checks -------------------------------------------------------------------------------------------


def _edition_check(edition: str) -> Check:
    title = "Salesforce edition supports the API"
    if edition in API_EDITIONS:
        return Check("edition", title, PASS, f"{edition}.")
    if edition == "Professional Edition":
        return Check("edition", title, PASS, "Professional Edition with API access (the API add-on is enabled).")
    return Check(
        "edition",
        title,
        FAIL,
        f"{edition or 'An unknown edition'}.",
        "Rox needs API access: Enterprise, Unlimited, Performance or Developer Edition, or Professional Edition "
        "with the API add-on. Ask your Salesforce account executive to enable API access.",
    )


def _licence_check(user: dict[str, Any], username: str) -> Check:
    title = "User licence is “Salesforce” or “Salesforce Integration”"
    licence = ((user.get("Profile") or {}).get("UserLicense") or {}).get("Name", "")
    if licence in GOOD_LICENCES:
        return Check("licence", title, PASS, f"{username} has a “{licence}” licence.")
    return Check(
        "licence",
        title,
        FAIL,
        f"{username} has a “{licence or 'unknown'}” licence.",
        f"In {SETUP_PATH}, edit {username} and give them a Salesforce or Salesforce Integration licence "
        "(or sign in with a user who has one).",
    )


def _profile_check(profile: dict[str, Any], user: dict[str, Any], grants_everything: bool) -> Check:
    title = "Profile is System Administrator"
    name = profile.get("Name", "")
    licence = (profile.get("UserLicense") or {}).get("Name", "")
    if name == ADMIN_PROFILE:
        return Check("profile", title, PASS, f"Profile “{name}”.")
    if licence == "Salesforce Integration" and grants_everything:
        return Check(
            "profile",
            title,
            WARN,
            f"Profile “{name}”, with permission sets that grant every object Rox needs.",
            "This works for an integration user. Keep the permission sets assigned; Rox re-checks them on Re-check.",
        )
    return Check(
        "profile",
        title,
        FAIL,
        f"Profile “{name or 'unknown'}”.",
        f"In {SETUP_PATH}, set the integration user's profile to System Administrator, or use a Salesforce "
        "Integration user whose permission sets grant Read and Edit on every object below.",
    )


def _api_check(profile: dict[str, Any], assignments: list[dict[str, Any]]) -> Check:
    title = "API Enabled"
    via_set = [
        (a.get("PermissionSet") or {}).get("Label") or (a.get("PermissionSet") or {}).get("Name")
        for a in assignments
        if (a.get("PermissionSet") or {}).get("PermissionsApiEnabled")
        and not (a.get("PermissionSet") or {}).get("IsOwnedByProfile")
    ]
    if profile.get("PermissionsApiEnabled"):
        return Check("api", title, PASS, f"Granted by the profile “{profile.get('Name', '')}”.")
    if via_set:
        return Check("api", title, PASS, f"Granted by the permission set “{via_set[0]}”.")
    return Check(
        "api",
        title,
        FAIL,
        "Neither the profile nor an assigned permission set grants API Enabled.",
        "In Setup, edit the user's profile (or a permission set assigned to them) and tick “API Enabled”.",
    )


def _package_check(exists: bool, assigned: bool, installed: bool | None, username: str) -> Check:
    title = f"“{PERMISSION_SET_LABEL}” permission set (from the Rox package) is assigned"
    if exists and assigned:
        return Check("package", title, PASS, f"Installed and assigned to {username}.")
    if exists:
        return Check(
            "package",
            title,
            FAIL,
            f"The package is installed but “{PERMISSION_SET_LABEL}” is not assigned to {username}.",
            f"In Setup → Permission Sets → {PERMISSION_SET_LABEL} → Manage Assignments, add {username}.",
        )
    found = (
        "The Rox package is not installed" if not installed else "The package is installed without its permission set"
    )
    return Check(
        "package",
        title,
        FAIL,
        f"{found}. Rox can still read; writing back to Salesforce stays off until it is fixed.",
        f"Install the Rox package (its “{PERMISSION_SET_LABEL}” permission set and the RoxActivityId field on "
        f"Activity), then assign “{PERMISSION_SET_LABEL}” to {username}: see the manual steps under “Set up "
        "Salesforce for me”.",
    )


def _activity_id_checks(describes: dict[str, dict[str, Any]]) -> list[Check]:
    checks = []
    for sobject in ("Task", "Event"):
        title = f"{ACTIVITY_ID_FIELD} on {sobject}: text, length {ACTIVITY_ID_LENGTH}"
        key = f"activity_id_{sobject.lower()}"
        describe = describes.get(sobject)
        if describe is None:
            checks.append(Check(key, title, FAIL, f"The user cannot read {sobject}.", "See the object access check."))
            continue
        found = next((f for f in describe.get("fields", []) if f["name"] == ACTIVITY_ID_FIELD), None)
        fix = (
            f"In Setup → Object Manager → Activity → Fields & Relationships, create a Text field "
            f"“RoxActivityId” of length {ACTIVITY_ID_LENGTH} (it appears on Task and Event), or install the Rox "
            "package, which creates it."
        )
        if found is None:
            checks.append(
                Check(key, title, FAIL, f"{sobject} has no {ACTIVITY_ID_FIELD} field (or the user cannot see it).", fix)
            )
        elif found.get("type") != "string":
            checks.append(
                Check(key, title, FAIL, f"{ACTIVITY_ID_FIELD} is of type {found.get('type')}, not Text.", fix)
            )
        elif found.get("length", 0) < ACTIVITY_ID_LENGTH:
            checks.append(
                Check(
                    key,
                    title,
                    FAIL,
                    f"{ACTIVITY_ID_FIELD} is Text of length {found.get('length')}; Rox needs {ACTIVITY_ID_LENGTH}.",
                    f"In Setup → Object Manager → Activity → RoxActivityId → Edit, set the length to "
                    f"{ACTIVITY_ID_LENGTH}.",
                )
            )
        elif not found.get("updateable") or not found.get("createable"):
            checks.append(
                Check(
                    key,
                    title,
                    FAIL,
                    f"{ACTIVITY_ID_FIELD} exists but the user cannot edit it.",
                    f"Give the user Edit access to Activity.{ACTIVITY_ID_FIELD} (field-level security), or assign the "
                    f"“{PERMISSION_SET_LABEL}” permission set.",
                )
            )
        else:
            checks.append(Check(key, title, PASS, f"Text({found.get('length')}), editable."))
    return checks


def _object_checks(rows: dict[str, dict[str, bool]], objects: list[str], describes: dict[str, Any]) -> list[Check]:
    checks = []
    for name in objects:
        perms = rows.get(name, {})
        read, edit, create = perms.get("read", False), perms.get("edit", False), perms.get("create", False)
        title = f"Read and Edit on {name}"
        key = f"object_{name}"
        missing = [label for label, ok in (("Read", read), ("Edit", edit)) if not ok]
        if name in ACTIVITY_OBJECTS:
            fix = (
                f"Turn on “Edit {name}s” for the user in their profile or in the “{PERMISSION_SET_LABEL}” permission "
                "set (Setup → Permission Sets → System Permissions)."
            )
        elif name not in STANDARD_OBJECTS:
            # An object the organization added: the Rox package's permission set stays as shipped.
            fix = (
                f"In Salesforce Setup → Permission Sets, open a permission set of your own assigned to the integration "
                f"user (not “{PERMISSION_SET_LABEL}”, which stays as the package ships it) → Object Settings → "
                f"{name}: tick Read, Create and Edit, and Read/Edit on the fields Rox maps. Then click Re-check."
            )
        else:
            fix = (
                f"Grant Read and Edit on {name} in the user's profile or in the “{PERMISSION_SET_LABEL}” permission "
                "set (Setup → Permission Sets → Object Settings)."
            )
        if missing:
            checks.append(Check(key, title, FAIL, f"Missing {' and '.join(missing)} on {name}.", fix))
        elif not create and name not in READ_ONLY_OBJECTS:
            checks.append(
                Check(
                    key,
                    title,
                    WARN,
                    f"Read and Edit, but not Create, on {name}.",
                    f"Records created in Rox cannot be created in Salesforce until Create on {name} is granted.",
                )
            )
        else:
            checks.append(Check(key, title, PASS, "Read, Create and Edit." if create else "Read and Edit."))
    return checks


def _field_checks(describes: dict[str, dict[str, Any]], fields_of: dict[str, Iterable[str]]) -> list[Check]:
    checks = []
    for sobject, names in fields_of.items():
        names = tuple(names)
        describe = describes.get(sobject)
        if describe is None:
            continue
        fields = {f["name"]: f for f in describe.get("fields", [])}
        unreadable = [n for n in names if n not in fields and n != ACTIVITY_ID_FIELD]
        needs_edit = sobject not in READ_ONLY_OBJECTS
        not_editable = [
            n
            for n in names
            if needs_edit and n in fields and not fields[n].get("updateable") and _editable_by_nature(fields[n])
        ]
        title = f"Field access on {sobject}'s {'basic' if sobject in BASIC_FIELDS else 'mapped'} fields"
        key = f"fields_{sobject}"
        if unreadable:
            checks.append(
                Check(
                    key,
                    title,
                    FAIL,
                    f"The user cannot read: {', '.join(unreadable)}.",
                    f"Give the user Read access to these {sobject} fields (field-level security in the profile or the "
                    f"“{PERMISSION_SET_LABEL}” permission set).",
                )
            )
        elif not_editable:
            checks.append(
                Check(
                    key,
                    title,
                    WARN,
                    f"Readable, but the user cannot edit: {', '.join(not_editable)}.",
                    f"Rox will not write these back. Give Edit access to the {sobject} fields if it should.",
                )
            )
        else:
            checks.append(Check(key, title, PASS, f"All {len(names)} readable{' and editable' if needs_edit else ''}."))
    return checks


def _editable_by_nature(describe_field: dict[str, Any]) -> bool:
    """Formula and system fields are never editable, and a field set only on create (a master-detail that cannot
    be reparented) never after; only a field-level security gap is worth reporting."""
    return (
        not describe_field.get("calculated")
        and not describe_field.get("autoNumber")
        and not describe_field.get("createable")
        and describe_field["name"]
        not in (
            "Id",
            "TotalPrice",
        )
    )


# -- helpers -----------------------------------------------------------------------------------------------------


def _object_permissions(
    client: SalesforceClient, permission_set_ids: list[str], *, profile_id: str, objects: list[str]
) -> dict[str, dict[str, bool]]:
    """The union of Read/Create/Edit per object over the user's permission sets (the profile's own included)."""
    conditions = []
    if permission_set_ids:
        conditions.append(f"ParentId IN {soql.literal_list(permission_set_ids)}")
    if profile_id:
        conditions.append(f"Parent.ProfileId = {soql.literal(profile_id)}")
    if not conditions:
        return {}
    query = (
        "SELECT ParentId, SobjectType, PermissionsRead, PermissionsCreate, PermissionsEdit FROM ObjectPermissions "
        f"WHERE ({' OR '.join(conditions)}) AND SobjectType IN {soql.literal_list(objects)}"
    )
    merged: dict[str, dict[str, bool]] = {}
    for row in client.query_all(query):
        perms = merged.setdefault(row["SobjectType"], {"read": False, "create": False, "edit": False})
        perms["read"] |= bool(row["PermissionsRead"])
        perms["create"] |= bool(row["PermissionsCreate"])
        perms["edit"] |= bool(row["PermissionsEdit"])
    return merged


def _activity_permissions(
    profile: dict[str, Any], assignments: list[dict[str, Any]], describes: dict[str, Any]
) -> dict[str, dict[str, bool]]:
    """Tasks and Events have no ObjectPermissions: the user permissions "Edit Tasks" and "Edit Events" (from the
    profile or a permission set) let a user create and edit them, and any user with API access can read them."""
    rows = {}
    for sobject, permission in ACTIVITY_OBJECTS.items():
        granted = bool(profile.get(permission)) or any(
            (a.get("PermissionSet") or {}).get(permission) for a in assignments
        )
        readable = sobject in describes
        rows[sobject] = {"read": readable, "create": granted, "edit": granted}
    return rows


def _grants_everything(rows: dict[str, dict[str, bool]], objects: list[str]) -> bool:
    return all(rows.get(name, {}).get("read") and rows.get(name, {}).get("edit") for name in objects)


def _package_installed(client: SalesforceClient) -> bool | None:
    try:
        result = client.tooling_query(
            "SELECT Id, SubscriberPackage.Name, SubscriberPackage.NamespacePrefix FROM InstalledSubscriberPackage"
        )
    except Exception:
        return None
    return any(
        (row.get("SubscriberPackage") or {}).get("Name") == PERMISSION_SET_LABEL for row in result.get("records", [])
    )


def _records(item: dict[str, Any]) -> list[dict[str, Any]]:
    if item.get("httpStatusCode") != 200 or not isinstance(item.get("body"), dict):
        return []
    return item["body"].get("records", [])


def _q(query: str) -> str:
    return quote(query)


def _without_api(report: PreflightReport, exc: ApiDisabledError) -> PreflightReport:
    """Without API access nothing else can be read; say so precisely and skip the rest."""
    if exc.code == "API_DISABLED_FOR_ORG":
        report.checks.append(
            Check(
                "edition",
                "Salesforce edition supports the API",
                FAIL,
                f"Salesforce says: “{exc.message}”. The org's edition does not include API access.",
                "Rox needs API access: Enterprise, Unlimited, Performance or Developer Edition, or Professional "
                "Edition with the API add-on. Ask your Salesforce account executive to enable API access.",
            )
        )
    else:
        report.checks.append(
            Check(
                "api",
                "API Enabled",
                FAIL,
                f"Salesforce says: “{exc.message}”.",
                "In Setup, edit the integration user's profile (or a permission set assigned to them) and tick "
                "“API Enabled”.",
            )
        )
    report.checks.append(
        Check(
            "rest",
            "Everything else",
            SKIPPED,
            "Not checked: the other checks need API access.",
            "Fix the failure above, then click Re-check.",
        )
    )
    return report
