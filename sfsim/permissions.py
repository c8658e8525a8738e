"""What the connected user may do: the union of their profile's permission set and their assigned permission sets,
read from the org's own ObjectPermissions, FieldPermissions and PermissionSet rows.

Tasks and Events follow Salesforce: ObjectPermissions has no rows for them; everyone with API access reads them and
the "Edit Tasks" / "Edit Events" user permissions allow creating, editing and deleting them.
"""

import sqlite3
from dataclasses import dataclass, field

from .schema import Field, SObject

USER_PERMS = (
    "PermissionsApiEnabled",
    "PermissionsModifyAllData",
    "PermissionsViewAllData",
    "PermissionsEditTask",
    "PermissionsEditEvent",
    "PermissionsViewSetup",
    "PermissionsCustomizeApplication",
    "PermissionsAssignPermissionSets",
)
# Who may create and delete PermissionSetAssignment rows (every other setup object is read-only through the API).
ASSIGNERS = frozenset({"PermissionsModifyAllData", "PermissionsAssignPermissionSets"})
# Who may use the Metadata API (deployRequest).
CUSTOMIZERS = frozenset({"PermissionsModifyAllData", "PermissionsCustomizeApplication"})
ACTIVITY_PERM = {"Task": "PermissionsEditTask", "Event": "PermissionsEditEvent"}
NO_GRANT = (False, False)  # (read, edit) of a field without FieldPermissions rows


@dataclass
class Perms:
    user_id: str
    active: bool
    user_perms: set = field(default_factory=set)
    objects: dict = field(default_factory=dict)  # lower object name -> set of read/create/edit/delete
    fields: dict = field(default_factory=dict)  # (lower object, lower field) -> (read, edit)

    @property
    def api_enabled(self) -> bool:
        return "PermissionsApiEnabled" in self.user_perms

    @property
    def metadata_api(self) -> bool:
        return bool(self.user_perms & CUSTOMIZERS)

    def _ops(self, o: SObject) -> set:
        if o.name == "PermissionSetAssignment" and self.user_perms & ASSIGNERS:
            return {"read", "create", "delete"}
        if o.setup or o.tooling or o.name == "User":
            return {"read"}
        if o.name in ACTIVITY_PERM:
            return {"read", "create", "edit", "delete"} if ACTIVITY_PERM[o.name] in self.user_perms else {"read"}
        ops = set(self.objects.get(o.name.lower(), ()))
        if "PermissionsViewAllData" in self.user_perms:
            ops.add("read")
        return ops

    def can(self, o: SObject, op: str) -> bool:
        return op in self._ops(o)

    def can_read(self, o: SObject) -> bool:
        return "read" in self._ops(o)

    def can_read_field(self, o: SObject, f: Field) -> bool:
        """Field-level security applies to permissionable fields only: the others (Id, audit fields, OwnerId, name and
        required fields) are visible to everyone who can read the object."""
        if not f.permissionable or o.setup or o.tooling or o.name == "User":
            return True
        obj = o.name.lower()
        if f.compound_of:
            # A compound address shows when its own row or any of its parts is readable (grants name the parts).
            return any(self.fields.get((obj, name.lower()), NO_GRANT)[0] for name in (f.name, *f.compound_of))
        return self.fields.get((obj, f.name.lower()), NO_GRANT)[0]

    def can_edit_field(self, o: SObject, f: Field) -> bool:
        """Edit under field-level security; a non-permissionable field is editable whenever the object is (the
        caller checks that, and whether the field itself is createable/updateable)."""
        if not f.permissionable:
            return True
        return self.fields.get((o.name.lower(), f.name.lower()), NO_GRANT)[1]


def load_perms(conn: sqlite3.Connection, user_id: str) -> Perms | None:
    row = conn.execute('SELECT "ProfileId", "IsActive" FROM "User" WHERE "Id" = ?', (user_id,)).fetchone()
    if row is None:
        return None
    profile_id, active = row
    ps_ids = [
        r[0]
        for r in conn.execute(
            'SELECT "Id" FROM "PermissionSet" WHERE "IsOwnedByProfile" = 1 AND "ProfileId" = ? AND "IsDeleted" = 0',
            (profile_id,),
        )
    ]
    ps_ids += [
        r[0]
        for r in conn.execute(
            'SELECT "PermissionSetId" FROM "PermissionSetAssignment" WHERE "AssigneeId" = ? AND "IsDeleted" = 0',
            (user_id,),
        )
    ]
    perms = Perms(user_id=user_id, active=bool(active))
    if not ps_ids:
        return perms
    marks = ", ".join("?" * len(ps_ids))
    cols = ", ".join(f'MAX(COALESCE("{p}", 0))' for p in USER_PERMS)
    flags = conn.execute(f'SELECT {cols} FROM "PermissionSet" WHERE "Id" IN ({marks})', ps_ids).fetchone()
    perms.user_perms = {p for p, v in zip(USER_PERMS, flags, strict=True) if v}
    for sobj, r, c, e, d in conn.execute(
        f'SELECT "SobjectType", MAX("PermissionsRead"), MAX("PermissionsCreate"), MAX("PermissionsEdit"), '
        f'MAX("PermissionsDelete") FROM "ObjectPermissions" WHERE "ParentId" IN ({marks}) AND "IsDeleted" = 0 '
        f'GROUP BY "SobjectType"',
        ps_ids,
    ):
        ops = set()
        for flag, name in ((r, "read"), (c, "create"), (e, "edit"), (d, "delete")):
            if flag:
                ops.add(name)
        perms.objects[sobj.lower()] = ops
    for sobj, fname, r, e in conn.execute(
        f'SELECT "SobjectType", "Field", MAX("PermissionsRead"), MAX("PermissionsEdit") FROM "FieldPermissions" '
        f'WHERE "ParentId" IN ({marks}) AND "IsDeleted" = 0 GROUP BY "SobjectType", "Field"',
        ps_ids,
    ):
        short = fname.split(".", 1)[1] if "." in fname else fname
        perms.fields[(sobj.lower(), short.lower())] = (bool(r or e), bool(e))
    return perms
