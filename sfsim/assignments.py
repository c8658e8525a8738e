"""PermissionSetAssignment through the API, the one setup object a client may write: created and deleted (never
updated) by a user with Modify All Data or Assign Permission Sets, with Salesforce's checks and errors. An
assignment changes what its user may do, so each write bumps the set-up generation (permissions are reloaded).

The Writer (records.py) calls these inside its transaction; everything else about the insert (required fields,
audit fields, Ids) is the Writer's own."""

import sqlite3

from . import ids
from .errors import SFError
from .store import Store

ASSIGNMENT = "PermissionSetAssignment"


def _row(conn: sqlite3.Connection, table: str, raw: object, field: str, columns: str) -> tuple | None:
    """The row an Id names, or None when no well-formed Id was given (the Writer's own checks answer that:
    REQUIRED_FIELD_MISSING, MALFORMED_ID). A well-formed Id of anything else is Salesforce's
    INVALID_CROSS_REFERENCE_KEY."""
    rid = ids.normalize(raw) if isinstance(raw, str) else None
    if rid is None:
        return None
    row = conn.execute(f'SELECT {columns} FROM "{table}" WHERE "Id" = ?', (rid,)).fetchone()
    if row is None:
        raise SFError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", fields=[field])
    return row


def check_new(conn: sqlite3.Connection, values: dict) -> None:
    """Before an assignment is created: the permission set and the user exist, the set is not a profile's, and the
    user does not have it yet."""
    given = {k.lower(): v for k, v in values.items()}
    ps = _row(conn, "PermissionSet", given.get("permissionsetid"), "PermissionSetId", '"Id", "IsOwnedByProfile"')
    user = _row(conn, "User", given.get("assigneeid"), "AssigneeId", '"Id"')
    if ps is not None and ps[1]:
        raise SFError(
            "INVALID_CROSS_REFERENCE_KEY",
            "You can't assign or unassign this permission set because it's associated with a profile.",
            fields=["PermissionSetId"],
        )
    if ps is not None and user is not None:
        taken = conn.execute(
            f'SELECT 1 FROM "{ASSIGNMENT}" WHERE "AssigneeId" = ? AND "PermissionSetId" = ? AND "IsDeleted" = 0',
            (user[0], ps[0]),
        ).fetchone()
        if taken:
            raise SFError(
                "DUPLICATE_VALUE",
                f"Duplicate PermissionSetAssignment. Assignee: {user[0]}; Permission Set: {ps[0]}",
                fields=[],
            )


def created(store: Store, conn: sqlite3.Connection) -> None:
    """After an assignment was inserted: its user's permissions change."""
    store.bump_generation(conn)


def remove(store: Store, conn: sqlite3.Connection, rid: str) -> None:
    """Deletes an assignment for good (setup rows do not go to the recycle bin)."""
    conn.execute(f'DELETE FROM "{ASSIGNMENT}" WHERE "Id" = ?', (rid,))
    store.bump_generation(conn)
