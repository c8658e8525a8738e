"""The org's set-up: licences, profiles, permission sets, the integration user, the installed package — and the
named scenarios, each expressed in those setup tables so a client discovers problems the way it would in a real
org. The ``ready`` set-up installs the package by reading ``salesforce-package/`` (the same source an admin deploys
with the Salesforce CLI) and deploying it through the same code as the Metadata API's deployRequest
(``metadata.py``)."""

import hashlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from . import defaults
from .permissions import USER_PERMS
from .schema import SObject
from .store import Store, quote

PACKAGE_DIR = Path(os.environ.get("SFSIM_PACKAGE_DIR", Path(__file__).resolve().parent.parent / "salesforce-package"))
SETUP_TABLES = (
    "FieldPermissions",
    "ObjectPermissions",
    "PermissionSetAssignment",
    "PermissionSet",
    "Profile",
    "UserLicense",
    "InstalledSubscriberPackage",
    "SubscriberPackageVersion",
    "SubscriberPackage",
)
# Objects whose access comes from ObjectPermissions (Tasks and Events use the Edit Tasks / Edit Events permissions).
CRUD_OBJECTS = (
    "Account",
    "Case",
    "Contact",
    "Lead",
    "Opportunity",
    "OpportunityLineItem",
    "Pricebook2",
    "PricebookEntry",
    "Product2",
    "Project__c",
)
FLS_OBJECTS = (*CRUD_OBJECTS, "Task", "Event")
# User permissions of the System Administrator profile (API Enabled aside, which a scenario may take away).
ADMIN_PERMS = frozenset({"ViewAllData", "ViewSetup", "CustomizeApplication", "AssignPermissionSets"})


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    edition: str = "Enterprise Edition"
    org_api: bool = True
    license: str = "Salesforce"
    profile: str = "System Administrator"
    profile_api: bool = True
    package: bool = True
    activity_id_length: int | None = None  # overrides the package's length
    opportunity_edit: bool = True


SCENARIOS = {
    s.name: s
    for s in [
        Scenario(
            "ready",
            "everything the Rox guide asks for: Enterprise Edition, System Administrator with a Salesforce "
            "licence and API Enabled, the package installed with Rox Integration assigned, "
            "RoxActivityId__c text(100) on Activity",
        ),
        Scenario(
            "fresh",
            "connectable, but the package is not installed: no Rox Integration permission set, no RoxActivityId__c",
            package=False,
        ),
        Scenario(
            "integration-license",
            "the user has a Salesforce Integration licence (profile 'Salesforce API Only "
            "System Integrations'); the Rox Integration permission set grants the objects",
            license="Salesforce Integration",
            profile="Salesforce API Only System Integrations",
        ),
        Scenario(
            "professional-no-api",
            "Professional Edition without API access: REST answers 403 "
            "API_DISABLED_FOR_ORG (OAuth and userinfo still work)",
            edition="Professional Edition",
            org_api=False,
        ),
        Scenario(
            "standard-user",
            "the integration user's profile is 'Standard User', not System Administrator",
            profile="Standard User",
        ),
        Scenario(
            "api-disabled",
            "the user's profile lacks API Enabled: REST answers 403 API_CURRENTLY_DISABLED "
            "(OAuth and userinfo still work)",
            profile_api=False,
        ),
        Scenario(
            "missing-edit-opportunity",
            "the user may read but not edit (or create) Opportunities",
            opportunity_edit=False,
        ),
        Scenario(
            "short-activity-id", "RoxActivityId__c exists but is text(50) instead of text(100)", activity_id_length=50
        ),
    ]
}


def hash_password(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


# -- building the set-up ---------------------------------------------------------------------------------------------
class SetupBuilder:
    def __init__(self, store: Store, conn: sqlite3.Connection, now: str):
        self.store = store
        self.conn = conn
        self.now = now
        self.admin_id = store.setting("admin_user_id")

    def insert(self, table: str, values: dict) -> str:
        o = self.store.schema.get(table) or self.store.schema.get(table, tooling=True)
        rid = self.store.new_ids(self.conn, o.key_prefix)[0]
        row = {
            "Id": rid,
            "IsDeleted": 0,
            "CreatedDate": self.now,
            "LastModifiedDate": self.now,
            "SystemModstamp": self.now,
            "CreatedById": self.admin_id or rid,
            "LastModifiedById": self.admin_id or rid,
            **values,
        }
        row = {k: (int(v) if isinstance(v, bool) else v) for k, v in row.items()}
        cols = list(row)
        self.conn.execute(
            f"INSERT INTO {quote(o.name)} ({', '.join(map(quote, cols))}) VALUES ({', '.join('?' * len(cols))})",
            [row[c] for c in cols],
        )
        return rid

    def permission_set(
        self,
        name: str,
        label: str,
        *,
        profile_id: str | None = None,
        license_id: str | None = None,
        namespace: str | None = None,
        user_perms: set[str] = frozenset(),
        description: str = "",
    ) -> str:
        return self.insert(
            "PermissionSet",
            {
                "Name": name,
                "Label": label,
                "Description": description,
                "IsOwnedByProfile": profile_id is not None,
                "ProfileId": profile_id,
                "LicenseId": license_id,
                "NamespacePrefix": namespace,
                "Type": "Profile" if profile_id else "Regular",
                **{p: p.removeprefix("Permissions") in user_perms for p in USER_PERMS},
            },
        )

    def object_perm(
        self,
        ps_id: str,
        obj: str,
        read: bool,
        create: bool,
        edit: bool,
        delete: bool,
        view_all: bool = False,
        modify_all: bool = False,
    ) -> None:
        self.insert(
            "ObjectPermissions",
            {
                "ParentId": ps_id,
                "SobjectType": obj,
                "PermissionsRead": read,
                "PermissionsCreate": create,
                "PermissionsEdit": edit,
                "PermissionsDelete": delete,
                "PermissionsViewAllRecords": view_all,
                "PermissionsModifyAllRecords": modify_all,
            },
        )

    def field_perm(self, ps_id: str, obj: str, field: str, read: bool, edit: bool) -> None:
        self.insert(
            "FieldPermissions",
            {
                "ParentId": ps_id,
                "SobjectType": obj,
                "Field": f"{obj}.{field}",
                "PermissionsRead": read,
                "PermissionsEdit": edit,
            },
        )

    def all_field_perms(self, ps_id: str, objects: tuple[str, ...] = FLS_OBJECTS) -> None:
        for name in objects:
            o: SObject = self.store.schema.get(name)
            for f in o.fields.values():
                if f.permissionable:
                    self.field_perm(ps_id, o.name, f.name, True, f.createable or f.updateable)


def granted_custom_objects(store: Store, conn: sqlite3.Connection) -> tuple[str, ...]:
    """Custom objects created through the control API whose access the standard profiles get (``grant_profiles``)."""
    return tuple(s["name"] for s in store.custom_object_specs(conn) if s.get("grant_profiles", True))


def standard_profile_sets(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(permission set Id, profile Name) of the System Administrator and Standard User profiles, which Salesforce
    grants new custom objects and fields by default."""
    return conn.execute(
        'SELECT ps."Id", p."Name" FROM "PermissionSet" ps JOIN "Profile" p ON p."Id" = ps."ProfileId" '
        """WHERE ps."IsOwnedByProfile" = 1 AND p."Name" IN ('System Administrator', 'Standard User')"""
    ).fetchall()


def grant_standard_profiles(store: Store, conn: sqlite3.Connection, now: str, object_name: str) -> None:
    """Access to a new custom object, as the scenarios give it to the built-in ones: Read/Create/Edit/Delete (plus
    View All and Modify All for System Administrator) and every permissionable field readable and, unless computed,
    editable, for the System Administrator and Standard User profiles."""
    b = SetupBuilder(store, conn, now)
    for ps_id, profile in standard_profile_sets(conn):
        admin = profile == "System Administrator"
        b.object_perm(ps_id, object_name, True, True, True, True, view_all=admin, modify_all=admin)
        b.all_field_perms(ps_id, (object_name,))


def _wipe_setup(store: Store, conn: sqlite3.Connection) -> None:
    for table in SETUP_TABLES:
        conn.execute(f"DELETE FROM {quote(table)}")


def package_components(scenario: Scenario, package_dir: Path = PACKAGE_DIR) -> list[dict]:
    """The package's components (``metadata.read_source``), as the scenario has them: ``short-activity-id``'s
    shorter RoxActivityId__c, ``missing-edit-opportunity``'s permission set without Create/Edit on Opportunity."""
    from .metadata import read_source

    components = read_source(package_dir)
    for c in components:
        d = c["definition"] or {}
        if c["componentType"] == "CustomField" and d.get("name") == "RoxActivityId__c" and scenario.activity_id_length:
            d["length"] = scenario.activity_id_length
        if c["componentType"] == "PermissionSet" and not scenario.opportunity_edit:
            for op in d["objects"]:
                if op["object"] == "Opportunity":
                    op["create"] = op["edit"] = False
    return components


def _deploy_package(store: Store, conn: sqlite3.Connection, now: str, components: list[dict]) -> list[dict]:
    """Deploys package components as a deployRequest would (the installed package's permission set gets the
    package's namespace); a component that does not deploy is an error in salesforce-package/."""
    from .metadata import deploy

    results = deploy(store, conn, now, components, namespace=defaults.PACKAGE_NAMESPACE)
    problems = [f"{r['fileName']} ({r['fullName']}): {r['problem']}" for r in results if not r["success"]]
    if problems:
        raise ValueError("the package in salesforce-package/ does not deploy: " + "; ".join(problems))
    return results


def _sync_package_fields(store: Store, conn: sqlite3.Connection, now: str, package: bool, fields: list[dict]) -> None:
    """The package's custom fields: deployed (before the profiles are built, which grant them as an admin who
    installs a package for all users does) or, without the package, deleted."""
    if package:
        _deploy_package(store, conn, now, fields)
        return
    for c in fields:
        d = c["definition"]
        if conn.execute(
            "SELECT 1 FROM _sfsim_custom_fields WHERE object = ? AND name = ?", (d["object"], d["name"])
        ).fetchone():
            store.delete_custom_field(conn, d["object"], d["name"])


def ensure_org(store: Store, conn: sqlite3.Connection, now: str, edition: str) -> str:
    org_id = store.setting("org_id")
    if org_id is None:
        # Different data directories get different org ids, derived from where they live.
        seed = int(hashlib.sha256(str(store.data_dir.resolve()).encode()).hexdigest()[:8], 16)
        org_id = SetupBuilder(store, conn, now).insert(
            "Organization",
            {
                "Name": defaults.ORG_NAME,
                "OrganizationType": edition,
                "IsSandbox": False,
                "InstanceName": "SFSIM1",
                "Country": "US",
                "DefaultLocaleSidKey": "en_US",
                "LanguageLocaleKey": "en_US",
                "TimeZoneSidKey": "GMT",
            },
        )
        conn.execute('UPDATE "Organization" SET "Id" = ? WHERE "Id" = ?', (_org_id(seed), org_id))
        org_id = _org_id(seed)
        conn.execute("INSERT OR REPLACE INTO _sfsim_settings (key, value) VALUES ('org_id', ?)", (f'"{org_id}"',))
    conn.execute(
        'UPDATE "Organization" SET "OrganizationType" = ?, "SystemModstamp" = ?, "LastModifiedDate" = ? WHERE "Id" = ?',
        (edition, now, now, org_id),
    )
    return org_id


def _org_id(seed: int) -> str:
    from . import ids

    return ids.make_id("00D", seed % (62**6))


def user_values(username: str, first: str, last: str, email: str, profile_id: str, title: str | None = None) -> dict:
    alias = (first[:1] + last)[:8].lower()
    return {
        "Username": username,
        "FirstName": first,
        "LastName": last,
        "Name": f"{first} {last}",
        "Email": email,
        "Alias": alias,
        "CommunityNickname": username.split("@")[0],
        "IsActive": True,
        "UserType": "Standard",
        "TimeZoneSidKey": "GMT",
        "LocaleSidKey": "en_US",
        "EmailEncodingKey": "UTF-8",
        "LanguageLocaleKey": "en_US",
        "ProfileId": profile_id,
        "Title": title,
        "CompanyName": defaults.ORG_NAME,
        "DigestFrequency": "D",
        "DefaultGroupNotificationFrequency": "N",
    }


def apply_scenario(store: Store, name: str, now: str) -> None:
    """Rebuilds the set-up tables for a scenario; records (and users) are kept."""
    scenario = SCENARIOS[name]
    package = package_components(scenario)
    fields = [c for c in package if c["componentType"] == "CustomField"]
    with store.setup_transaction() as conn:
        _wipe_setup(store, conn)
        _sync_package_fields(store, conn, now, scenario.package, fields)
        ensure_org(store, conn, now, scenario.edition)
        b = SetupBuilder(store, conn, now)
        lic = {
            n: b.insert(
                "UserLicense",
                {
                    "Name": n,
                    "MasterLabel": n,
                    "LicenseDefinitionKey": key,
                    "Status": "Active",
                    "TotalLicenses": total,
                    "UsedLicenses": 0,
                },
            )
            for n, key, total in (
                ("Salesforce", "SFDC", 15),
                ("Salesforce Platform", "AUL", 5),
                ("Salesforce Integration", "SFDC_INTEGRATION", 5),
            )
        }
        profiles = {}
        for pname, plic in (
            ("System Administrator", "Salesforce"),
            ("Standard User", "Salesforce"),
            ("Salesforce API Only System Integrations", "Salesforce Integration"),
        ):
            is_target = pname == scenario.profile
            admin = pname == "System Administrator"
            api = scenario.profile_api if is_target else True
            modify_all = admin and (scenario.opportunity_edit or not is_target)
            pid = b.insert(
                "Profile",
                {
                    "Name": pname,
                    "UserLicenseId": lic[plic],
                    "UserType": "Standard",
                    "PermissionsApiEnabled": api,
                    "PermissionsModifyAllData": modify_all,
                    "PermissionsViewAllData": admin,
                    "PermissionsViewSetup": pname != "Standard User",
                    "PermissionsEditTask": pname != "Salesforce API Only System Integrations",
                    "PermissionsEditEvent": pname != "Salesforce API Only System Integrations",
                    "PermissionsCustomizeApplication": admin,
                    "PermissionsAssignPermissionSets": admin,
                },
            )
            perms = {"ApiEnabled"} if api else set()
            if admin:
                perms |= ADMIN_PERMS | ({"ModifyAllData"} if modify_all else set())
            if pname != "Salesforce API Only System Integrations":
                perms |= {"EditTask", "EditEvent"}
            ps = b.permission_set(f"X{pid[:15]}", pname, profile_id=pid, license_id=lic[plic], user_perms=perms)
            profiles[pname] = pid
            if pname == "Salesforce API Only System Integrations":
                continue
            custom = granted_custom_objects(store, conn)
            for obj in (*CRUD_OBJECTS, *custom):
                if admin:
                    full = not (obj == "Opportunity" and is_target and not scenario.opportunity_edit)
                    b.object_perm(ps, obj, True, full, full, full, view_all=True, modify_all=full)
                elif obj in ("Pricebook2", "PricebookEntry", "Product2"):
                    b.object_perm(ps, obj, True, False, False, False)
                else:
                    b.object_perm(ps, obj, True, True, True, True)
            b.all_field_perms(ps, (*FLS_OBJECTS, *custom))
        admin_id = store.setting("admin_user_id")
        conn.execute('UPDATE "User" SET "ProfileId" = ? WHERE "Id" != ?', (profiles["Standard User"], admin_id or ""))
        conn.execute('UPDATE "User" SET "ProfileId" = ? WHERE "Id" = ?', (profiles[scenario.profile], admin_id))
        if scenario.package:
            _install_package(store, b, [c for c in package if c not in fields], admin_id)
        for lid in lic.values():
            conn.execute(
                'UPDATE "UserLicense" SET "UsedLicenses" = (SELECT COUNT(*) FROM "User" u JOIN "Profile" p '
                'ON p."Id" = u."ProfileId" WHERE p."UserLicenseId" = ? AND u."IsActive" = 1) WHERE "Id" = ?',
                (lid, lid),
            )
        conn.execute("INSERT OR REPLACE INTO _sfsim_settings (key, value) VALUES ('scenario', ?)", (f'"{name}"',))
        conn.execute(
            "INSERT OR REPLACE INTO _sfsim_settings (key, value) VALUES ('org_api_enabled', ?)",
            ("true" if scenario.org_api else "false",),
        )


def _install_package(store: Store, b: SetupBuilder, components: list[dict], admin_id: str | None) -> None:
    """The package's permission sets (deployed), assigned to the integration user, and the package itself in the
    Tooling API's InstalledSubscriberPackage."""
    results = _deploy_package(store, b.conn, b.now, components)
    ps = next(r["id"] for r in results if r["componentType"] == "PermissionSet")
    description = next(c["definition"]["description"] for c in components if c["componentType"] == "PermissionSet")
    if admin_id:
        b.insert("PermissionSetAssignment", {"AssigneeId": admin_id, "PermissionSetId": ps, "IsActive": True})
    pkg = b.insert(
        "SubscriberPackage",
        {
            "Name": defaults.PACKAGE_NAME,
            "NamespacePrefix": defaults.PACKAGE_NAMESPACE,
            "Description": description,
            "IsPackageValid": True,
        },
    )
    major, minor, patch, build = (int(x) for x in defaults.PACKAGE_VERSION_NUMBER.split("."))
    ver = b.insert(
        "SubscriberPackageVersion",
        {
            "Name": defaults.PACKAGE_VERSION_NAME,
            "SubscriberPackageId": pkg,
            "MajorVersion": major,
            "MinorVersion": minor,
            "PatchVersion": patch,
            "BuildNumber": build,
            "IsManaged": True,
        },
    )
    b.insert("InstalledSubscriberPackage", {"SubscriberPackageId": pkg, "SubscriberPackageVersionId": ver})


def ensure_admin(store: Store, now: str) -> str:
    """Creates the admin (integration) user once, and keeps its username and password in step with the
    environment."""
    admin_id = store.setting("admin_user_id")
    with store.transaction() as conn:
        if admin_id is None:
            ensure_org(store, conn, now, "Enterprise Edition")
            b = SetupBuilder(store, conn, now)
            admin_id = b.insert(
                "User",
                user_values(
                    defaults.ADMIN_USERNAME,
                    "Ada",
                    "Admin",
                    defaults.ADMIN_USERNAME,
                    "",
                    title="Salesforce Administrator",
                ),
            )
            conn.execute('UPDATE "User" SET "CreatedById" = ?, "LastModifiedById" = ?', (admin_id, admin_id))
            conn.execute('UPDATE "Organization" SET "CreatedById" = ?, "LastModifiedById" = ?', (admin_id, admin_id))
            conn.execute(
                "INSERT OR REPLACE INTO _sfsim_settings (key, value) VALUES ('admin_user_id', ?)", (f'"{admin_id}"',)
            )
        conn.execute(
            'UPDATE "User" SET "Username" = ?, "Email" = ? WHERE "Id" = ? AND "Username" != ?',
            (defaults.ADMIN_USERNAME, defaults.ADMIN_USERNAME, admin_id, defaults.ADMIN_USERNAME),
        )
        conn.execute(
            "INSERT OR REPLACE INTO _sfsim_passwords (user_id, password) VALUES (?, ?)",
            (admin_id, hash_password(defaults.ADMIN_PASSWORD)),
        )
    return admin_id


def create_user(
    store: Store,
    conn: sqlite3.Connection,
    now: str,
    username: str,
    first: str,
    last: str,
    password: str = defaults.USER_PASSWORD,
    title: str | None = None,
    profile: str = "Standard User",
) -> str:
    row = conn.execute('SELECT "Id" FROM "Profile" WHERE "Name" = ?', (profile,)).fetchone()
    uid = SetupBuilder(store, conn, now).insert(
        "User", user_values(username, first, last, username, row[0] if row else "", title)
    )
    conn.execute(
        "INSERT OR REPLACE INTO _sfsim_passwords (user_id, password) VALUES (?, ?)", (uid, hash_password(password))
    )
    return uid
