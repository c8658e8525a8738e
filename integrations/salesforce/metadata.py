"""Salesforce's set-up, deployed for the admin: the Rox package source (``salesforce-package/``, Salesforce DX
format) turned into a Metadata API zip and deployed with the REST ``deployRequest`` resource, then polled until done.

Only the two components the Rox guide asks for (the ``RoxActivityId__c`` field on Activity and the **Rox
Integration** permission set, exactly as shipped) and, when the admin asks for it, a second permission set of our
own (**Rox Added Objects**) that grants Read, Create and Edit on the objects the organization added and access to
their mapped fields; the package's permission set stays as shipped.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from django.conf import settings
from urllib3 import encode_multipart_formdata

from integrations.salesforce.client import SalesforceClient
from integrations.salesforce.errors import SalesforceError

PACKAGE_DIR = Path(settings.BASE_DIR) / "salesforce-package" / "force-app" / "main" / "default"
MD_NAMESPACE = "http://soap.sforce.com/2006/04/metadata"
ADDED_OBJECTS_SET = "Rox_Added_Objects"
ADDED_OBJECTS_LABEL = "Rox Added Objects"
DONE = ("Succeeded", "SucceededPartial", "Failed", "Canceled")


@dataclass
class Deployment:
    """Where a deployment stands, as Salesforce reports it."""

    id: str
    status: str
    done: bool = False
    success: bool = False
    deployed: int = 0
    total: int = 0
    errors: int = 0
    error_message: str = ""
    failures: list[dict[str, str]] = field(default_factory=list)  # component, file, problem
    components: list[str] = field(default_factory=list)  # what was deployed (type and name)

    @classmethod
    def from_response(cls, body: dict[str, Any]) -> Deployment:
        result = body.get("deployResult") or {}
        details = result.get("details") or {}
        failures = [
            {
                "component": f"{c.get('componentType') or ''} {c.get('fullName') or ''}".strip(),
                "file": c.get("fileName") or "",
                "problem": c.get("problem") or "",
            }
            for c in _listed(details.get("componentFailures"))
        ]
        components = [
            f"{c.get('componentType')} {c.get('fullName')}"
            for c in _listed(details.get("componentSuccesses"))
            if c.get("componentType") and c.get("componentType") != "Package"
        ]
        return cls(
            id=body.get("id") or result.get("id") or "",
            status=result.get("status") or "Pending",
            done=bool(result.get("done")),
            success=bool(result.get("success")),
            deployed=int(result.get("numberComponentsDeployed") or 0),
            total=int(result.get("numberComponentsTotal") or 0),
            errors=int(result.get("numberComponentErrors") or 0),
            error_message=result.get("errorMessage") or "",
            failures=failures,
            components=components,
        )

    def as_details(self) -> dict[str, Any]:
        return {
            "deploy_id": self.id,
            "deploy_status": self.status,
            "deployed": self.deployed,
            "total": self.total,
            "failures": self.failures,
            "components": self.components,
            "deploy_error": self.error_message,
        }


def _listed(value: Any) -> list[dict[str, Any]]:
    """Salesforce gives one component as an object and several as a list."""
    if not value:
        return []
    return value if isinstance(value, list) else [value]


# -- the zip -------------------------------------------------------------------------------------------------------


def package_zip(added: dict[str, list[str]] | None = None) -> bytes:
    """The Metadata API zip of the Rox package source, plus the Rox Added Objects permission set when ``added``
    (object → its mapped fields) names objects."""
    fields_by_object: dict[str, list[str]] = {}
    for path in sorted((PACKAGE_DIR / "objects").glob("*/fields/*.field-meta.xml")):
        fields_by_object.setdefault(path.parent.parent.name, []).append(path.read_text())
    permission_sets = {
        path.name.removesuffix(".permissionset-meta.xml"): path.read_text()
        for path in sorted((PACKAGE_DIR / "permissionsets").glob("*.permissionset-meta.xml"))
    }
    if added:
        permission_sets[ADDED_OBJECTS_SET] = added_objects_permission_set(added)
    members: dict[str, list[str]] = {"CustomField": [], "PermissionSet": sorted(permission_sets)}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for sobject, sources in fields_by_object.items():
            fields = []
            for source in sources:
                body = _element_body(source, "CustomField")
                fields.append(f"    <fields>{body}</fields>")
                members["CustomField"].append(f"{sobject}.{_text_of(body, 'fullName')}")
            archive.writestr(
                f"objects/{sobject}.object",
                f'<?xml version="1.0" encoding="UTF-8"?>\n<CustomObject xmlns="{MD_NAMESPACE}">\n'
                + "\n".join(fields)
                + "\n</CustomObject>\n",
            )
        for name, source in permission_sets.items():
            archive.writestr(f"permissionsets/{name}.permissionset", source)
        archive.writestr("package.xml", _package_xml(members))
    return buffer.getvalue()


def added_objects_permission_set(added: dict[str, list[str]]) -> str:
    """Rox Added Objects: Read, Create and Edit on each added object, Read and Edit on its mapped custom fields
    (standard fields follow the object; required fields take no field permissions)."""
    objects = "".join(
        "\n    <objectPermissions>\n        <allowCreate>true</allowCreate>\n        <allowDelete>false</allowDelete>"
        "\n        <allowEdit>true</allowEdit>\n        <allowRead>true</allowRead>"
        "\n        <modifyAllRecords>false</modifyAllRecords>"
        f"\n        <object>{escape(sobject)}</object>\n        <viewAllRecords>false</viewAllRecords>"
        "\n    </objectPermissions>"
        for sobject in sorted(added)
    )
    fields = "".join(
        f"\n    <fieldPermissions>\n        <editable>true</editable>\n        <field>{escape(sobject)}.{escape(name)}"
        "</field>\n        <readable>true</readable>\n    </fieldPermissions>"
        for sobject in sorted(added)
        for name in sorted(set(added[sobject]))
        if name.endswith("__c")
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<PermissionSet xmlns="{MD_NAMESPACE}">\n'
        "    <description>Access Rox needs to the objects added to its sync in CRM Mappings (set up by Rox)."
        "</description>"
        f"{fields}\n    <hasActivationRequired>false</hasActivationRequired>\n    <label>{ADDED_OBJECTS_LABEL}</label>"
        f"{objects}\n</PermissionSet>\n"
    )


def _element_body(source: str, tag: str) -> str:
    """The inside of the root element ``tag`` of a metadata file."""
    start = source.index(">", source.index(f"<{tag}")) + 1
    return source[start : source.rindex(f"</{tag}>")]


def _text_of(body: str, tag: str) -> str:
    return body.split(f"<{tag}>", 1)[1].split(f"</{tag}>", 1)[0].strip()


def _package_xml(members: dict[str, list[str]]) -> str:
    types = "".join(
        "\n    <types>"
        + "".join(f"\n        <members>{escape(m)}</members>" for m in names)
        + f"\n        <name>{kind}</name>\n    </types>"
        for kind, names in members.items()
        if names
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Package xmlns="{MD_NAMESPACE}">{types}'
        f"\n    <version>{settings.SALESFORCE_API_VERSION}</version>\n</Package>\n"
    )


# -- deploying -----------------------------------------------------------------------------------------------------


def deploy(
    client: SalesforceClient,
    archive: bytes,
    *,
    progress: Callable[[Deployment], None] | None = None,
    check_only: bool = False,
) -> Deployment:
    """Deploy ``archive`` (all or nothing, no Apex tests) and poll until Salesforce is done, telling ``progress``
    of each state. Raises ``SalesforceError`` when Salesforce refuses the request, or keeps working past
    ``SALESFORCE_DEPLOY_TIMEOUT`` seconds."""
    options = {
        "deployOptions": {
            "checkOnly": check_only,
            "rollbackOnError": True,
            "singlePackage": True,
            "testLevel": "NoTestRun",
            "ignoreWarnings": False,
            "allowMissingFiles": False,
        }
    }

    body, content_type = encode_multipart_formdata(
        [
            ("json", (None, json.dumps(options), "application/json")),
            ("file", ("rox-package.zip", archive, "application/zip")),
        ]
    )
    started = client.request("POST", "metadata/deployRequest", data=body, headers={"Content-Type": content_type})
    state = Deployment.from_response(started or {})
    if not state.id:
        raise SalesforceError("Salesforce accepted the deployment without giving its id.")
    deadline = time.monotonic() + settings.SALESFORCE_DEPLOY_TIMEOUT
    while True:
        if progress:
            progress(state)
        if state.done or state.status in DONE:
            return state
        if time.monotonic() > deadline:
            raise SalesforceError(
                f"Salesforce is still deploying after {settings.SALESFORCE_DEPLOY_TIMEOUT} s (deployment "
                f"{state.id}, {state.status}); see Setup → Deployment Status, then Re-check."
            )
        time.sleep(settings.SALESFORCE_DEPLOY_POLL_SECONDS)
        state = Deployment.from_response(
            client.request("GET", f"metadata/deployRequest/{state.id}?includeDetails=true") or {}
        )
