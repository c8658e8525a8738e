"""Bulk API 2.0: ingest jobs (insert, update, upsert, delete, hardDelete from CSV) and query jobs whose results
stream from a CSV file on disk, page by page, so memory is bounded by the page, not the job."""

import array
import base64
import csv
import io
import json
import shutil
import threading
import time
from pathlib import Path

from . import defaults
from .errors import SFError
from .http import API, Ctx, Result
from .query import compile_for
from .records import find_by_external_id
from .soql import csv_row

DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
INGEST_OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
CSV_TYPE = "text/csv"
CHUNK = 200


class Bulk:
    """Job bookkeeping for one org; processing runs on background threads."""

    def __init__(self, org) -> None:
        self.org = org
        self.root = org.data_dir / "bulk"
        self.root.mkdir(exist_ok=True)
        self._lock = threading.Lock()
        self._counts: dict[str, list[float]] = {"batches": [], "query_jobs": []}

    def _bump(self, key: str) -> None:
        now = time.time()
        with self._lock:
            self._counts[key] = [t for t in self._counts[key] if t > now - 86400] + [now]

    def batches_today(self) -> int:
        with self._lock:
            return len(self._counts["batches"])

    def query_jobs_today(self) -> int:
        with self._lock:
            return len(self._counts["query_jobs"])

    def new_id(self) -> str:
        return self.org.store.allocate_id("750")

    def save(self, info: dict) -> None:
        with self.org.store.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO _sfsim_bulk_jobs (id, kind, info) VALUES (?, ?, ?)",
                (info["id"], info["jobType"], json.dumps(info)),
            )

    def load(self, job_id: str, kind: str) -> dict:
        row = self.org.store.conn.execute(
            "SELECT info FROM _sfsim_bulk_jobs WHERE id = ? AND kind = ?", (job_id, kind)
        ).fetchone()
        if row is None:
            raise SFError("NOT_FOUND", "The requested resource does not exist", 404)
        return json.loads(row[0])

    def update(self, job_id: str, kind: str, **changes) -> dict:
        with self.org.store.transaction():
            info = self.load(job_id, kind)
            info.update(changes)
            info["systemModstamp"] = self.org.now()
            self.save(info)
        return info

    def dir(self, job_id: str) -> Path:
        path = self.root / job_id
        path.mkdir(exist_ok=True)
        return path

    def all(self, kind: str) -> list[dict]:
        return [
            json.loads(r[0])
            for r in self.org.store.conn.execute(
                "SELECT info FROM _sfsim_bulk_jobs WHERE kind = ? ORDER BY id", (kind,)
            )
        ]


def _public(info: dict, full: bool) -> dict:
    keys = [
        "id",
        "operation",
        "object",
        "createdById",
        "createdDate",
        "systemModstamp",
        "state",
        "externalIdFieldName",
        "concurrencyMode",
        "contentType",
        "apiVersion",
        "contentUrl",
        "lineEnding",
        "columnDelimiter",
    ]
    if full:
        keys += [
            "jobType",
            "numberRecordsProcessed",
            "numberRecordsFailed",
            "retries",
            "totalProcessingTime",
            "apiActiveProcessingTime",
            "apexProcessingTime",
            "errorMessage",
        ]
    return {k: info[k] for k in keys if k in info and (info[k] is not None or (k == "errorMessage" and full))}


def _new_job(ctx: Ctx, kind: str, body: dict, obj: str) -> dict:
    org = ctx.org
    now = org.now()
    job_id = org.bulk.new_id()
    info = {
        "id": job_id,
        "operation": body["operation"],
        "object": obj,
        "createdById": ctx.user_id,
        "createdDate": now,
        "systemModstamp": now,
        "state": "Open" if kind == "V2Ingest" else "UploadComplete",
        "concurrencyMode": "Parallel",
        "contentType": "CSV",
        "apiVersion": float(ctx.version),
        "lineEnding": body.get("lineEnding", "LF"),
        "columnDelimiter": body.get("columnDelimiter", "COMMA"),
        "jobType": kind,
        "numberRecordsProcessed": 0,
        "numberRecordsFailed": 0,
        "retries": 0,
        "totalProcessingTime": 0,
        "apiActiveProcessingTime": 0,
        "apexProcessingTime": 0,
        "errorMessage": None,
    }
    if kind == "V2Ingest":
        info["externalIdFieldName"] = body.get("externalIdFieldName")
        info["contentUrl"] = f"services/data/v{ctx.version}/jobs/ingest/{job_id}/batches"
    return info


def _check_format(body: dict) -> None:
    if body.get("columnDelimiter", "COMMA") not in DELIMITERS:
        raise SFError("INVALIDJOB", f"Invalid column delimiter: {body.get('columnDelimiter')}")
    if body.get("lineEnding", "LF") not in LINE_ENDINGS:
        raise SFError("INVALIDJOB", f"Invalid line ending: {body.get('lineEnding')}")
    if body.get("contentType", "CSV") != "CSV":
        raise SFError("INVALIDJOB", "Only CSV content is supported")


# -- ingest ----------------------------------------------------------------------------------------------------------
@API.add("POST", "jobs/ingest", "bulk")
def ingest_create(ctx: Ctx) -> Result:
    body = ctx.json() or {}
    op = body.get("operation")
    if op not in INGEST_OPERATIONS:
        raise SFError("INVALIDJOB", f"Invalid operation: {op}")
    _check_format(body)
    o = ctx.org.store.schema.get(body.get("object") or "")
    if o is None or not o.writable or (ctx.perms is not None and not ctx.perms.can_read(o)):
        raise SFError("INVALIDJOB", f"Unable to find object: {body.get('object')}")
    if op == "upsert":
        f = o.field(body.get("externalIdFieldName") or "")
        if f is None or not (f.external_id or f.type == "id"):
            raise SFError(
                "INVALIDJOB", f"The field {body.get('externalIdFieldName')} is not an external id field on {o.name}"
            )
    info = _new_job(ctx, "V2Ingest", body, o.name)
    ctx.org.bulk.save(info)
    return Result(200, _public(info, False))


@API.add("GET", "jobs/<kind>", "bulk")
def job_list(ctx: Ctx) -> Result:
    kind = {"ingest": "V2Ingest", "query": "V2Query"}.get(ctx.params["kind"])
    if kind is None:
        raise SFError("NOT_FOUND", "The requested resource does not exist", 404)
    return Result(
        body={"done": True, "records": [_public(i, False) for i in ctx.org.bulk.all(kind)], "nextRecordsUrl": None}
    )


@API.add("PUT", "jobs/ingest/<job>/batches", "bulk")
def ingest_upload(ctx: Ctx) -> Result:
    bulk = ctx.org.bulk
    info = bulk.load(ctx.params["job"], "V2Ingest")
    if info["state"] != "Open":
        raise SFError("INVALIDJOB", f"Job {info['id']} is not open for data upload; its state is {info['state']}")
    data = ctx.body if isinstance(ctx.body, bytes) else (ctx.body or "").encode()
    if len(data) > defaults.BULK_MAX_UPLOAD_BYTES:
        raise SFError("INVALIDJOB", "The upload is larger than 150 MB")
    path = bulk.dir(info["id"]) / "data.csv"
    if path.exists():
        # A second upload adds its rows under the first one's header.
        data = data.split(LINE_ENDINGS[info["lineEnding"]].encode(), 1)[1] if b"\n" in data else b""
    with path.open("ab") as fh:
        fh.write(data)
    bulk._bump("batches")
    return Result(201)


@API.add("PATCH", "jobs/ingest/<job>", "bulk")
def ingest_state(ctx: Ctx) -> Result:
    bulk = ctx.org.bulk
    state = (ctx.json() or {}).get("state")
    info = bulk.load(ctx.params["job"], "V2Ingest")
    if state == "UploadComplete":
        if info["state"] != "Open":
            raise SFError("INVALIDJOB", f"Job {info['id']} is not open; its state is {info['state']}")
        info = bulk.update(info["id"], "V2Ingest", state="UploadComplete")
        threading.Thread(target=_process_ingest, args=(ctx.org, info["id"], ctx.perms), daemon=True).start()
    elif state == "Aborted":
        if info["state"] in ("JobComplete", "Failed", "Aborted"):
            raise SFError("INVALIDJOB", f"Job {info['id']} is already {info['state']}")
        info = bulk.update(info["id"], "V2Ingest", state="Aborted")
    else:
        raise SFError("INVALIDJOB", f"Invalid state: {state}")
    return Result(body=_public(info, False))


@API.add("GET", "jobs/ingest/<job>", "bulk")
def ingest_info(ctx: Ctx) -> Result:
    return Result(body=_public(ctx.org.bulk.load(ctx.params["job"], "V2Ingest"), True))


@API.add("DELETE", "jobs/ingest/<job>", "bulk")
def ingest_delete(ctx: Ctx) -> Result:
    return _delete_job(ctx, "V2Ingest")


def _delete_job(ctx: Ctx, kind: str) -> Result:
    bulk = ctx.org.bulk
    info = bulk.load(ctx.params["job"], kind)
    if (info["state"] in ("Open", "InProgress") and kind == "V2Ingest") or info["state"] == "InProgress":
        raise SFError("INVALIDJOB", f"Job {info['id']} must be closed or aborted before it is deleted")
    with ctx.org.store.transaction() as conn:
        conn.execute("DELETE FROM _sfsim_bulk_jobs WHERE id = ?", (info["id"],))
    shutil.rmtree(bulk.root / info["id"], ignore_errors=True)
    return Result(204)


def _results_file(ctx: Ctx, name: str) -> Result:
    bulk = ctx.org.bulk
    info = bulk.load(ctx.params["job"], "V2Ingest")
    path = bulk.root / info["id"] / name
    data = path.read_bytes() if path.exists() else b""
    return Result(body=data, content_type=CSV_TYPE)


@API.add("GET", "jobs/ingest/<job>/successfulResults", "bulk")
def ingest_successes(ctx: Ctx) -> Result:
    return _results_file(ctx, "successfulResults.csv")


@API.add("GET", "jobs/ingest/<job>/failedResults", "bulk")
def ingest_failures(ctx: Ctx) -> Result:
    return _results_file(ctx, "failedResults.csv")


@API.add("GET", "jobs/ingest/<job>/unprocessedrecords", "bulk")
def ingest_unprocessed(ctx: Ctx) -> Result:
    return _results_file(ctx, "unprocessedrecords.csv")


def _process_ingest(org, job_id: str, perms) -> None:
    bulk = org.bulk
    info = bulk.update(job_id, "V2Ingest", state="InProgress")
    started = time.monotonic()
    folder = bulk.dir(job_id)
    data_path = folder / "data.csv"
    text = data_path.read_text(encoding="utf-8-sig") if data_path.exists() else ""
    delim = DELIMITERS[info["columnDelimiter"]]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    header = next(reader, None)
    o = org.store.schema.get(info["object"])
    if not header:
        bulk.update(job_id, "V2Ingest", state="Failed", errorMessage="InvalidBatch : Empty CSV file")
        return
    op = info["operation"]
    unknown = [h for h in header if o.field(h) is None]
    if unknown or (op in ("update", "delete", "hardDelete") and "id" not in [h.lower() for h in header]):
        msg = (
            f"InvalidBatch : Field name not found : {unknown[0]}"
            if unknown
            else "InvalidBatch : The 'Id' field is required"
        )
        bulk.update(job_id, "V2Ingest", state="Failed", errorMessage=msg)
        return
    ok_out = io.StringIO()
    bad_out = io.StringIO()
    ok_w = csv.writer(ok_out, lineterminator="\n")
    bad_w = csv.writer(bad_out, lineterminator="\n")
    ok_w.writerow(["sf__Id", "sf__Created", *header])
    bad_w.writerow(["sf__Id", "sf__Error", *header])
    processed = failed = 0
    ext = o.field(info["externalIdFieldName"]) if info.get("externalIdFieldName") else None
    rows = list(reader)
    for start in range(0, len(rows), CHUNK):
        if bulk.load(job_id, "V2Ingest")["state"] == "Aborted":
            return
        chunk = rows[start : start + CHUNK]
        with org.store.transaction() as conn:
            writer = org.writer(conn, info["createdById"], perms)
            writer.csv_rows = True
            for raw in chunk:
                values = {h: (None if v == "#N/A" else v) for h, v in zip(header, raw, strict=False) if v != ""}
                rid = ""
                try:
                    with org.store.savepoint(conn):
                        rid, created = _ingest_one(org, writer, conn, o, op, values, ext)
                    ok_w.writerow([rid, "true" if created else "false", *raw])
                except SFError as e:
                    failed += 1
                    bad_w.writerow([rid, f"{e.code}:{e.message}:{','.join(e.fields or [])} --", *raw])
                processed += 1
        org.stats.add_records("bulk", len(chunk))
        bulk.update(job_id, "V2Ingest", numberRecordsProcessed=processed, numberRecordsFailed=failed)
    (folder / "successfulResults.csv").write_text(ok_out.getvalue())
    (folder / "failedResults.csv").write_text(bad_out.getvalue())
    (folder / "unprocessedrecords.csv").write_text(delim.join(header) + "\n")
    elapsed = int((time.monotonic() - started) * 1000)
    bulk.update(
        job_id,
        "V2Ingest",
        state="JobComplete",
        numberRecordsProcessed=processed,
        numberRecordsFailed=failed,
        totalProcessingTime=elapsed,
        apiActiveProcessingTime=elapsed,
    )


def _ingest_one(org, writer, conn, o, op: str, values: dict, ext) -> tuple[str, bool]:
    raw_id = next((v for k, v in values.items() if k.lower() == "id"), None)
    fields = {k: v for k, v in values.items() if k.lower() != "id"}
    if op == "insert":
        return writer.insert(o, fields), True
    if op == "upsert":
        value = next((v for k, v in values.items() if k.lower() == ext.name.lower()), None)
        if value is None:
            raise SFError("MISSING_ARGUMENT", f"{ext.name} not specified", fields=[ext.name])
        matches = find_by_external_id(conn, o, ext, value)
        if len(matches) > 1:
            raise SFError(
                "DUPLICATE_EXTERNAL_ID",
                f"{ext.name}: more than one record found for external id field: {matches}",
                fields=[ext.name],
            )
        if matches:
            writer.update(o, matches[0], {k: v for k, v in fields.items() if k.lower() != ext.name.lower()})
            return matches[0], False
        return writer.insert(o, fields), True
    if raw_id is None:
        raise SFError("MISSING_ARGUMENT", "Id not specified", fields=["Id"])
    rid = writer.resolve_id(o, raw_id)
    if op == "update":
        writer.update(o, rid, fields)
    elif op == "delete":
        writer.delete(o, rid)
    else:
        writer.hard_delete(o, rid)
    return rid, False


# -- query jobs ------------------------------------------------------------------------------------------------------
@API.add("POST", "jobs/query", "bulk")
def query_create(ctx: Ctx) -> Result:
    body = ctx.json() or {}
    op = body.get("operation")
    if op not in ("query", "queryAll"):
        raise SFError("INVALIDJOB", f"Invalid operation: {op}")
    _check_format(body)
    compiled = compile_for(ctx, body.get("query") or "", op == "queryAll")
    if compiled.is_count:
        raise SFError("INVALIDJOB", "Aggregate queries are not supported by Bulk API 2.0 query jobs")
    info = _new_job(ctx, "V2Query", body, compiled.obj.name)
    info["query"] = body["query"]
    ctx.org.bulk.save(info)
    ctx.org.bulk._bump("query_jobs")
    threading.Thread(target=_process_query, args=(ctx.org, info["id"], compiled), daemon=True).start()
    return Result(200, _public(info, False))


@API.add("GET", "jobs/query/<job>", "bulk")
def query_info(ctx: Ctx) -> Result:
    return Result(body=_public(ctx.org.bulk.load(ctx.params["job"], "V2Query"), True))


@API.add("PATCH", "jobs/query/<job>", "bulk")
def query_state(ctx: Ctx) -> Result:
    state = (ctx.json() or {}).get("state")
    if state != "Aborted":
        raise SFError("INVALIDJOB", f"Invalid state: {state}")
    info = ctx.org.bulk.load(ctx.params["job"], "V2Query")
    if info["state"] in ("JobComplete", "Failed", "Aborted"):
        raise SFError("INVALIDJOB", f"Job {info['id']} is already {info['state']}")
    return Result(body=_public(ctx.org.bulk.update(info["id"], "V2Query", state="Aborted"), False))


@API.add("DELETE", "jobs/query/<job>", "bulk")
def query_delete(ctx: Ctx) -> Result:
    return _delete_job(ctx, "V2Query")


def _process_query(org, job_id: str, compiled) -> None:
    bulk = org.bulk
    info = bulk.update(job_id, "V2Query", state="InProgress")
    started = time.monotonic()
    folder = bulk.dir(job_id)
    delim = DELIMITERS[info["columnDelimiter"]]
    ending = LINE_ENDINGS[info["lineEnding"]]
    conn = org.store.new_connection()
    count = 0
    try:
        conn.execute("BEGIN")
        cursor = conn.execute(compiled.sql, compiled.params)
        offsets = array.array("Q")
        with (folder / "results.csv").open("wb") as out, (folder / "offsets.bin").open("wb") as idx:
            buf = io.StringIO()
            w = csv.writer(buf, delimiter=delim, lineterminator=ending)
            w.writerow(compiled.columns)
            header = buf.getvalue().encode()
            (folder / "header.csv").write_bytes(header)
            pos = 0
            while True:
                rows = cursor.fetchmany(5000)
                if not rows:
                    break
                buf.seek(0)
                buf.truncate()
                starts = []
                for row in rows:
                    starts.append(buf.tell())
                    w.writerow(csv_row(compiled, row))
                chunk = buf.getvalue().encode()
                # Offsets are in bytes: recompute from the encoded text when it is not pure ASCII.
                if len(chunk) != buf.tell():
                    text = buf.getvalue()
                    starts = [len(text[:s].encode()) for s in starts]
                offsets.extend(pos + s for s in starts)
                out.write(chunk)
                pos += len(chunk)
                count += len(rows)
                offsets.tofile(idx)
                offsets = array.array("Q")
                if bulk.load(job_id, "V2Query")["state"] == "Aborted":
                    return
                # As Salesforce does, a running job shows its progress (the state is kept: an abort can come between).
                bulk.update(job_id, "V2Query", numberRecordsProcessed=count)
            array.array("Q", [pos]).tofile(idx)
    except Exception as e:  # a failed job reports why, as Salesforce does, instead of killing the thread silently
        bulk.update(job_id, "V2Query", state="Failed", errorMessage=str(e))
        return
    finally:
        conn.rollback()
        conn.close()
    org.stats.add_records("bulk", count)
    elapsed = int((time.monotonic() - started) * 1000)
    bulk.update(job_id, "V2Query", state="JobComplete", numberRecordsProcessed=count, totalProcessingTime=elapsed)


def _encode_locator(row: int) -> str:
    return base64.b64encode(str(row).encode()).decode().rstrip("=")


def _decode_locator(text: str) -> int:
    try:
        return int(base64.b64decode(text + "=" * (-len(text) % 4)).decode())
    except ValueError:
        raise SFError("INVALID_LOCATOR", f"Invalid locator: {text}") from None


@API.add("GET", "jobs/query/<job>/results", "bulk")
def query_results(ctx: Ctx) -> Result:
    bulk = ctx.org.bulk
    info = bulk.load(ctx.params["job"], "V2Query")
    if info["state"] != "JobComplete":
        raise SFError("INVALIDJOB", f"Job {info['id']} is not complete; its state is {info['state']}")
    folder = bulk.root / info["id"]
    total = info["numberRecordsProcessed"]
    max_records = int(ctx.query.get("maxRecords") or defaults.BULK_QUERY_PAGE_SIZE)
    start = _decode_locator(ctx.query["locator"]) if ctx.query.get("locator") else 0
    end = min(start + max_records, total)
    header = (folder / "header.csv").read_bytes()
    with (folder / "offsets.bin").open("rb") as idx:
        idx.seek(start * 8)
        bounds = array.array("Q")
        bounds.fromfile(idx, 1)
        idx.seek(end * 8)
        bounds.fromfile(idx, 1)
    first, last = bounds[0], bounds[1]

    def stream():
        yield header
        with (folder / "results.csv").open("rb") as fh:
            fh.seek(first)
            left = last - first
            while left > 0:
                block = fh.read(min(left, 1 << 20))
                if not block:
                    break
                left -= len(block)
                yield block

    ctx.org.stats.add_records("bulk", end - start)
    headers = {
        "Sforce-NumberOfRecords": str(end - start),
        "Sforce-Locator": _encode_locator(end) if end < total else "null",
    }
    return Result(200, stream(), headers=headers, content_type=CSV_TYPE, length=len(header) + last - first)
