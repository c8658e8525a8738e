"""The Metadata API's deploy over REST: ``POST metadata/deployRequest`` takes a multipart request (``json``: the
deployOptions; ``file``: a zip in Metadata API format) and answers 201 with a Pending deployment;
``GET metadata/deployRequest/<id>`` reports on it, with the components when ``includeDetails=true``.

A deployment is applied when it is first polled (``metadata.deploy``, in one set-up transaction); the outcome is then
told after the org setting ``deploy_in_progress_polls`` polls that answer ``InProgress`` (default 1: the first poll
says InProgress, the next the outcome; 0: the first poll tells the outcome), so a client shows progress the way it
would against Salesforce. Deploy requests live in the org database (``_sfsim_deploy_requests``)."""

import json
import sqlite3

from . import defaults, ids, metadata
from .errors import SFError, not_found
from .http import API, Ctx, Result

DEPLOY_PREFIX = "0Af"
OPTION_DEFAULTS = {
    "allowMissingFiles": False,
    "autoUpdatePackage": False,
    "checkOnly": False,
    "ignoreWarnings": False,
    "performRetrieve": False,
    "purgeOnDelete": False,
    "rollbackOnError": True,
    "runTests": None,
    "singlePackage": True,
    "testLevel": "NoTestRun",
}
TEST_LEVELS = ("NoTestRun", "RunSpecifiedTests", "RunLocalTests", "RunAllTestsInOrg")
NO_TESTS = {"numFailures": 0, "numTestsRun": 0, "totalTime": 0.0, "successes": [], "failures": []}
FINAL = ("Succeeded", "SucceededPartial", "Failed", "Canceled")
NO_ACCESS = "use of the Metadata API requires a user with the ModifyAllData or CustomizeApplication permission"
FORM = "a deployRequest is multipart/form-data with a 'json' part (the deployOptions) and a 'file' part (the .zip)"


def _check_access(ctx: Ctx) -> None:
    if ctx.perms is not None and not ctx.perms.metadata_api:
        raise SFError("INSUFFICIENT_ACCESS", NO_ACCESS, 403)


def _options(raw: bytes | str | None) -> dict:
    """The deployOptions of the ``json`` part, over Salesforce's defaults."""
    try:
        body = json.loads(raw) if raw else {}
    except ValueError as e:
        raise SFError("JSON_PARSER_ERROR", f"The json part is not JSON: {e}") from None
    given = body.get("deployOptions", {}) if isinstance(body, dict) else None
    if not isinstance(given, dict):
        raise SFError("JSON_PARSER_ERROR", 'The json part must be an object: {"deployOptions": {...}}')
    options = {**OPTION_DEFAULTS, **{k: v for k, v in given.items() if k in OPTION_DEFAULTS}}
    for key, default in OPTION_DEFAULTS.items():
        if isinstance(default, bool) and not isinstance(options[key], bool):
            raise SFError("JSON_PARSER_ERROR", f"Cannot deserialize instance of boolean from value {options[key]!r}")
    if options["testLevel"] not in TEST_LEVELS:
        raise SFError("JSON_PARSER_ERROR", f"testLevel {options['testLevel']!r} is not one of {', '.join(TEST_LEVELS)}")
    return options


def _parts(ctx: Ctx) -> tuple[dict, bytes]:
    req = ctx.req
    if req is None or req.mimetype != "multipart/form-data":
        raise SFError("MISSING_ARGUMENT", FORM)
    raw = req.form.get("json")
    if raw is None and "json" in req.files:
        raw = req.files["json"].read()
    options = _options(raw)
    upload = req.files.get("file")
    data = upload.read() if upload is not None else b""
    if not data:
        raise SFError("MISSING_ARGUMENT", f"No .zip file given: {FORM}")
    if len(data) > defaults.DEPLOY_MAX_ZIP_BYTES:
        raise SFError("INVALID_ZIP", "The .zip file is larger than the 39 MB a deployment may have")
    return options, data


def _save(conn: sqlite3.Connection, info: dict) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO _sfsim_deploy_requests (id, info) VALUES (?, ?)", (info["id"], json.dumps(info))
    )


def _outcome(results: list[dict], options: dict) -> str:
    failed = [r for r in results if not r["success"]]
    if not failed:
        return "Succeeded"
    if options["rollbackOnError"] or not any(r["success"] for r in results if r["componentType"] != "Package"):
        return "Failed"
    return "SucceededPartial"


def _answer(ctx: Ctx, info: dict, details: bool) -> dict:
    """The deployRequest resource: the request, its options and its DeployResult."""
    options, state = info["options"], info["state"]
    results = info["results"] or []
    succeeded = [r for r in results if r["success"] and r["componentType"] != "Package"]
    failures = [r for r in results if not r["success"]]
    done = state in FINAL
    if done:
        deployed, successes = len(succeeded), [r for r in results if r["success"]]
    elif state == "InProgress":
        deployed = len(succeeded) * info["progress"] // (info["progress_polls"] + 1)
        successes, failures = succeeded[:deployed], []
    else:
        deployed, successes, failures = 0, [], []
    url = f"{ctx.base}/metadata/deployRequest/{info['id']}"
    return {
        "id": info["id"],
        "validatedDeployRequestId": None,
        "url": f"{url}?includeDetails=true",
        "deployOptions": options,
        "deployResult": {
            "id": info["id"],
            "status": state,
            "done": done,
            "success": state == "Succeeded",
            "checkOnly": options["checkOnly"],
            "ignoreWarnings": options["ignoreWarnings"],
            "rollbackOnError": options["rollbackOnError"],
            "numberComponentsDeployed": deployed,
            "numberComponentsTotal": sum(1 for c in info["components"] if c["componentType"] != "Package"),
            # Components, not problems: a component may fail for several reasons.
            "numberComponentErrors": len({(r["componentType"], r["fullName"]) for r in failures}),
            "numberTestErrors": 0,
            "numberTestsCompleted": 0,
            "numberTestsTotal": 0,
            "runTestsEnabled": False,
            "createdBy": info["createdBy"],
            "createdByName": info["createdByName"],
            "createdDate": info["createdDate"],
            "startDate": info["startDate"],
            "lastModifiedDate": info["lastModifiedDate"],
            "completedDate": info["completedDate"],
            "canceledBy": None,
            "canceledByName": None,
            "errorMessage": None,
            "errorStatusCode": None,
            "stateDetail": (
                f"Processing Type: {succeeded[deployed]['componentType']}"
                if state == "InProgress" and deployed < len(succeeded)
                else None
            ),
            "details": {
                "componentSuccesses": successes,
                "componentFailures": failures,
                "runTestResult": NO_TESTS,
                "retrieveResult": None,
            }
            if details
            else None,
        },
    }


@API.add("POST", "metadata/deployRequest", "metadata")
def create_deploy_request(ctx: Ctx) -> Result:
    _check_access(ctx)
    options, data = _parts(ctx)
    components = metadata.read_zip(data, allow_missing_files=options["allowMissingFiles"])
    org = ctx.org
    user = org.user_row(ctx.user_id)
    now = org.now()
    with org.store.transaction() as conn:
        info = {
            "id": org.store.new_ids(conn, DEPLOY_PREFIX)[0],
            "options": options,
            "components": components,
            "createdBy": ctx.user_id[:15],
            "createdByName": user["Name"] if user else None,
            "createdDate": now,
            "lastModifiedDate": now,
            "startDate": None,
            "completedDate": None,
            "state": "Pending",
            "outcome": None,
            "results": None,
            "progress": 0,
            "progress_polls": 0,
        }
        _save(conn, info)
    return Result(201, _answer(ctx, info, details=False))


@API.add("GET", "metadata/deployRequest/<deploy_id>", "metadata")
def deploy_request_status(ctx: Ctx) -> Result:
    _check_access(ctx)
    org = ctx.org
    store = org.store
    with store.transaction() as conn:
        row = conn.execute(
            "SELECT info FROM _sfsim_deploy_requests WHERE id = ?", (ids.normalize(ctx.params["deploy_id"]),)
        ).fetchone()
        if row is None:
            raise not_found()
        info = json.loads(row[0])
        now = org.now()
        if info["state"] == "Pending":
            # Deployed now, in this transaction: the set-up changes (schema and permissions reload everywhere).
            store.bump_generation(conn)
            options = info["options"]
            info["results"] = metadata.deploy(
                store,
                conn,
                now,
                info["components"],
                check_only=options["checkOnly"],
                rollback_on_error=options["rollbackOnError"],
            )
            polls = store.setting("deploy_in_progress_polls", defaults.DEPLOY_IN_PROGRESS_POLLS)
            info.update(
                outcome=_outcome(info["results"], options),
                state="InProgress",
                startDate=now,
                lastModifiedDate=now,
                progress_polls=max(0, int(polls)),
            )
        if info["state"] == "InProgress":
            if info["progress"] < info["progress_polls"]:
                info["progress"] += 1
            else:
                info.update(state=info["outcome"], completedDate=now, lastModifiedDate=now)
        _save(conn, info)
    return Result(body=_answer(ctx, info, ctx.query.get("includeDetails", "").lower() == "true"))
