"""The JSON API at /api/v1/: token authentication, JSON errors, and thin handlers over ``api.services``.

No ``from __future__ import annotations`` here: django-ninja reads the handlers' annotations, and those of the
handlers made per resource name schemas held in local variables.
"""

from typing import Annotated, Any
from uuid import UUID

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import Header, NinjaAPI, Query, Router, Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as RequestInvalid
from ninja.parser import Parser
from ninja.responses import Status
from ninja.security import HttpBearer

from activities.models import Activity
from api import services
from api.models import ApiToken
from api.resources import RESOURCES, Resource, added_object_resource
from api.schemas import (
    Error,
    ObjectRecordFilters,
    ObjectRecordIn,
    ObjectRecordOut,
    PicklistOut,
    page_of,
    patch_of,
    stale_of,
)
from roxcrm.models import CrmRecord, ObjectDefinition, ObjectRecord
from roxcrm.services import CUSTOM_PREFIX, StaleRecordError

DESCRIPTION = """
How tools and agents read and write Rox records. Every write goes through the same edit path as a person's edit
on the pages, so it is validated the same way, recorded in the record's history with the token as its author, and
synced to Salesforce like any other change.

**Authentication.** Create a token in *Settings → API tokens* (organization admins) and send it as
`Authorization: Bearer <token>`. A token sees only its own organization. Read tokens get 403 on writes; an unknown
or revoked token gets 401.

**Records** are named by their `code` (a UUID) and refer to each other by code; people (owners) by e-mail.
Custom fields are under `custom_fields`, keyed by API name, and checked against their definitions. A private custom
field is visible to a token only when the person who created the token created the field. Lists are ordered by
`(updated_at, id)` and paged with an opaque `cursor`; records deleted or merged in Salesforce are left out unless
`include_removed=true`, and can always be fetched by code.

**Concurrency.** Each record has a `version`, also sent as its `ETag`. Send it back as `If-Match` with `PATCH`: if
the record changed in the meantime the answer is 412 with the record as it is now, and nothing is written. A `PATCH`
without `If-Match` applies to whatever version is current.

**Errors** are JSON: `{"code": "...", "message": "...", "fields": {"name": ["..."]}}`, with status 400 (invalid;
messages per field), 401, 403, 404, 409 (a conflicting state), 412 (stale `If-Match`), 413 (a body over 2.5 MB) or
429.

**Picklists.** A field that a writing rule of CRM Mappings sends to a Salesforce picklist (an opportunity's `stage`,
an account's `industry`, a lead's `status`, custom fields too) takes one of that picklist's active values on a
record synced with Salesforce; any other value is refused with 400, its message naming the Salesforce field and its
values. `GET /api/v1/picklists` lists them per resource and field. A value a record holds that Salesforce has since
deactivated is kept as long as the field is not changed.

**Rate limit.** Each token may make {limit} requests in a minute; past it the answer is 429 with `Retry-After` in
seconds.
"""

ACTIVITY_LOGGING = """
Logs an e-mail, call, LinkedIn touch, meeting or task. Unless `contact` or `lead` is given, the activity is linked to
the Rox contact with one of the `participant_emails` (exact, ignoring case; the most recently updated when several
match), or, when no contact matches, to such a lead. With an `opportunity` and no `account`, the opportunity's
account is taken. The owner defaults to the token's creator for `user` tokens.

Send an `external_id` (your own id, unique in the organization) to make retries safe: posting it again with the same
content returns the activity first logged with it, with status 200 instead of 201; with other content the answer is
409.
"""

IF_MATCH = 'The record\'s `ETag` as you read it, e.g. `"3"`: if it changed since, nothing is written (412).'

# The largest body the API reads, whatever DATA_UPLOAD_MAX_MEMORY_SIZE says: that setting may be raised or lifted
# for the pages, and a record with many custom fields at their longest still fits in Django's default 2.5 MB.
MAX_BODY_BYTES = 2_621_440
VERSION_DIGITS = 20  # more than any version (a 32-bit counter) has; a longer If-Match is refused before int()


class ApiError(Exception):
    """An answer other than success, in the API's error format."""

    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


class TokenAuth(HttpBearer):
    """``Authorization: Bearer <secret>`` → the live token (``request.auth``), each request counted against its
    rate limit."""

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        found = services.token_authenticate(secret=token)
        if found is None:
            return None
        limit = settings.API_RATE_LIMIT_PER_MINUTE
        wait = services.token_use(token=found, limit=limit)
        if wait is not None:
            raise ApiError(
                429,
                "rate_limited",
                f"This token made {limit} requests in the last minute; try again in {wait} s.",
                headers={"Retry-After": str(wait)},
            )
        return found


class BodyParser(Parser):
    """JSON bodies up to ``MAX_BODY_BYTES``; a larger one is refused as Django refuses one above its own limit."""

    def parse_body(self, request: HttpRequest) -> Any:
        if len(request.body) > MAX_BODY_BYTES:
            raise RequestDataTooBig(f"The request body is larger than {MAX_BODY_BYTES} bytes.")
        return super().parse_body(request)


api = NinjaAPI(
    title="Rox CRM API",
    version="1",
    description=DESCRIPTION.replace("{limit}", str(settings.API_RATE_LIMIT_PER_MINUTE)),
    auth=TokenAuth(),
    urls_namespace="api_v1",
    parser=BodyParser(),
)


# ---------------------------------------------------------------------------------------------------------------
# Errors


def _error(
    request: HttpRequest,
    status: int,
    code: str,
    message: str,
    fields: dict[str, list[str]] | None = None,
    **extra: Any,
) -> HttpResponse:
    body = {"code": code, "message": message, "fields": fields or {}, **extra}
    return api.create_response(request, body, status=status)


@api.exception_handler(ApiError)
def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    response = _error(request, exc.status, exc.code, exc.message)
    for name, value in exc.headers.items():
        response[name] = value
    return response


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = _error(request, 401, "unauthenticated", "Send a live API token as `Authorization: Bearer <token>`.")
    response["WWW-Authenticate"] = 'Bearer realm="Rox CRM API"'
    return response


@api.exception_handler(RequestInvalid)
def _request_invalid(request: HttpRequest, exc: RequestInvalid) -> HttpResponse:
    if any(error["loc"][0] == "path" for error in exc.errors):
        # A malformed code names no record, just as an unknown one does.
        return _error(request, 404, "not_found", "There is no record with that code.")
    fields: dict[str, list[str]] = {}
    for error in exc.errors:
        location = error["loc"][2:] if error["loc"][0] == "body" else error["loc"][1:]
        name = ".".join(str(part) for part in location) or "__all__"
        fields.setdefault(name, []).append(error["msg"])
    return _error(request, 400, "invalid", "The request is not valid; see `fields`.", fields)


@api.exception_handler(ValidationError)
def _record_invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    messages = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    fields = {_api_field_name(name): list(texts) for name, texts in messages.items()}
    return _error(request, 400, "invalid", "The record is not valid; see `fields`.", fields)


def _api_field_name(name: str) -> str:
    """The edit path names custom fields ``custom.<api name>``; the API body has them under ``custom_fields``."""
    if name.startswith(CUSTOM_PREFIX):
        return "custom_fields." + name.removeprefix(CUSTOM_PREFIX)
    return name


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc.__cause__, RequestDataTooBig):
        # django-ninja reports every failure of the body parser as "Cannot parse request body".
        return _too_large(request, exc.__cause__)
    return _error(request, exc.status_code, "bad_request" if exc.status_code == 400 else "error", str(exc))


@api.exception_handler(RequestDataTooBig)
def _too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    # Raised by Django itself above DATA_UPLOAD_MAX_MEMORY_SIZE, or by BodyParser above MAX_BODY_BYTES; without a
    # handler django-ninja answers it with a traceback when DEBUG is on, and Django with an HTML page when it is off.
    limit = min(MAX_BODY_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE or MAX_BODY_BYTES)
    return _error(
        request,
        413,
        "too_large",
        f"The request body is larger than the API accepts ({limit:,} bytes). Nothing was written; send less at once.",
    )


@api.exception_handler(services.RecordNotFound)
@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return _error(request, 404, "not_found", str(exc) or "Not found.")


@api.exception_handler(services.RecordReadOnly)
def _read_only(request: HttpRequest, exc: services.RecordReadOnly) -> HttpResponse:
    return _error(request, 409, "read_only", str(exc))


@api.exception_handler(services.ExternalIdConflict)
def _external_id_conflict(request: HttpRequest, exc: services.ExternalIdConflict) -> HttpResponse:
    return _error(request, 409, "external_id_conflict", str(exc))


@api.exception_handler(StaleRecordError)
def _stale(request: HttpRequest, exc: StaleRecordError) -> HttpResponse:
    resource = _resource_of(exc.current)
    current = services.record_get(token=request.auth, resource=resource, code=exc.current.code)
    [shown] = services.records_render(token=request.auth, resource=resource, records=[current])
    response = _error(
        request,
        412,
        "stale",
        f"The record changed since version {request.headers.get('If-Match')}; it is now at version "
        f"{current.version}. Nothing was written: look at `current` and send your change again.",
        current=resource.out.model_validate(shown).model_dump(mode="json"),
    )
    response["ETag"] = f'"{current.version}"'
    return response


_RESOURCE_OF = {resource.model: resource for resource in RESOURCES.values()}


def _resource_of(record: CrmRecord) -> Resource:
    if isinstance(record, ObjectRecord):
        return added_object_resource(record.definition)
    return _RESOURCE_OF[type(record)]


# ---------------------------------------------------------------------------------------------------------------
# Resources


def _responses(*statuses: int) -> dict[int, type]:
    return dict.fromkeys(statuses, Error)


def _require_write(request: HttpRequest) -> None:
    if not request.auth.can_write:
        raise ApiError(403, "forbidden", "This token may only read; an admin can create one that may also write.")


def _refuse_unknown_parameters(request: HttpRequest, schema: type[Schema]) -> None:
    # A misspelt filter is refused rather than ignored, so a client never takes a whole list for a filtered one.
    unknown = [name for name in request.GET if name not in schema.model_fields]
    if unknown:
        raise ValidationError({name: ["There is no such parameter."] for name in unknown})


def _if_match(value: str | None) -> int | None:
    """The version in an ``If-Match`` header (``"3"``, ``W/"3"`` or ``3``); ``None`` for none or ``*``."""
    if value is None or value.strip() == "*":
        return None
    tag = value.strip().removeprefix("W/").strip('"')
    if not tag.isascii() or not tag.isdigit() or len(tag) > VERSION_DIGITS:
        raise ValidationError({"If-Match": ['Send the record\'s ETag, e.g. If-Match: "3".']})
    return int(tag)


def _shown(request: HttpRequest, response: HttpResponse, resource: Resource, record: CrmRecord) -> dict[str, Any]:
    response["ETag"] = f'"{record.version}"'
    [shown] = services.records_render(token=request.auth, resource=resource, records=[record])
    return shown


def _list_page(request: HttpRequest, resource: Resource, filters: Any, schema: type[Schema]) -> dict[str, Any]:
    _refuse_unknown_parameters(request, schema)
    page = services.records_list(token=request.auth, resource=resource, filters=filters)
    return {
        "data": services.records_render(token=request.auth, resource=resource, records=page.records),
        "next_cursor": page.next_cursor,
    }


def _created(request: HttpRequest, response: HttpResponse, resource: Resource, record: CrmRecord) -> dict[str, Any]:
    response["Location"] = request.build_absolute_uri(f"{request.path.rstrip('/')}/{record.code}")
    return _shown(request, response, resource, record)


def _updated(
    request: HttpRequest, response: HttpResponse, resource: Resource, code: UUID, payload: Any, if_match: str | None
) -> dict[str, Any]:
    _require_write(request)
    record = services.api_record_update(
        token=request.auth, resource=resource, code=code, payload=payload, expected_version=_if_match(if_match)
    )
    return _shown(request, response, resource, record)


def _resource_router(resource: Resource) -> Router:
    router = Router(tags=[resource.name])
    out, create, patch, filters_schema = resource.out, resource.create, resource.patch, resource.filters
    singular, plural = resource.model._meta.verbose_name, resource.model._meta.verbose_name_plural
    a_singular = f"{'an' if singular[0] in 'aeiou' else 'a'} {singular}"
    is_activity = resource.model is Activity

    @router.get(
        "",
        response={200: page_of(out), **_responses(400, 401, 429)},
        operation_id=f"{resource.name}_list",
        url_name=f"{resource.name}_list",
        summary=f"List {plural}",
    )
    def list_records(request: HttpRequest, filters: Query[filters_schema]) -> dict[str, Any]:
        return _list_page(request, resource, filters, filters_schema)

    @router.get(
        "/{code}",
        response={200: out, **_responses(401, 404, 429)},
        operation_id=f"{resource.name}_get",
        url_name=f"{resource.name}_get",
        summary=f"Get one {singular}",
    )
    def get_record(request: HttpRequest, code: UUID, response: HttpResponse) -> dict[str, Any]:
        record = services.record_get(token=request.auth, resource=resource, code=code)
        return _shown(request, response, resource, record)

    @router.post(
        "",
        response={201: out, **({200: out} if is_activity else {}), **_responses(400, 401, 403, 409, 413, 429)},
        operation_id=f"{resource.name}_create",
        url_name=f"{resource.name}_create",
        summary=f"Log {a_singular}" if is_activity else f"Create {a_singular}",
        description=ACTIVITY_LOGGING if is_activity else None,
    )
    def create_record(request: HttpRequest, payload: create, response: HttpResponse) -> Status:
        _require_write(request)
        if is_activity:
            record, created = services.activity_log(token=request.auth, payload=payload)
        else:
            record, created = services.api_record_create(token=request.auth, resource=resource, payload=payload), True
        return Status(201 if created else 200, _created(request, response, resource, record))

    @router.patch(
        "/{code}",
        response={200: out, 412: stale_of(out), **_responses(400, 401, 403, 404, 409, 413, 429)},
        operation_id=f"{resource.name}_update",
        url_name=f"{resource.name}_update",
        summary=f"Change some fields of {a_singular}",
    )
    def update_record(
        request: HttpRequest,
        code: UUID,
        payload: patch,
        response: HttpResponse,
        if_match: Annotated[str | None, Header(alias="If-Match", description=IF_MATCH)] = None,
    ) -> dict[str, Any]:
        return _updated(request, response, resource, code, payload, if_match)

    return router


for _resource in RESOURCES.values():
    api.add_router(f"/{_resource.name}", _resource_router(_resource))


# ---------------------------------------------------------------------------------------------------------------
# Objects the organization added (a Salesforce custom object such as Project__c), by their Salesforce API name


def _added(request: HttpRequest, api_name: str) -> Resource:
    definition = ObjectDefinition.objects.filter(
        organization=request.auth.organization, key=ObjectDefinition.key_for(api_name)
    ).first()
    if definition is None:
        raise Http404(f"This organization has no object {api_name} (add it on CRM Mappings first).")
    return added_object_resource(definition)


objects_router = Router(tags=["objects"])
ObjectRecordPatch = patch_of(ObjectRecordIn)
ADDED = (
    "Records of an object the organization added to Rox (a Salesforce custom object such as `Project__c`), by its "
    "API name. Its other fields are under `custom_fields`; a Link field holds the code of the record it links to."
)


@objects_router.get(
    "/{api_name}",
    response={200: page_of(ObjectRecordOut), **_responses(400, 401, 404, 429)},
    operation_id="objects_list",
    url_name="objects_list",
    summary="List the records of an added object",
    description=ADDED,
)
def objects_list(request: HttpRequest, api_name: str, filters: Query[ObjectRecordFilters]) -> dict[str, Any]:
    return _list_page(request, _added(request, api_name), filters, ObjectRecordFilters)


@objects_router.get(
    "/{api_name}/{code}",
    response={200: ObjectRecordOut, **_responses(401, 404, 429)},
    operation_id="objects_get",
    url_name="objects_get",
    summary="Get one record of an added object",
)
def objects_get(request: HttpRequest, api_name: str, code: UUID, response: HttpResponse) -> dict[str, Any]:
    resource = _added(request, api_name)
    record = services.record_get(token=request.auth, resource=resource, code=code)
    return _shown(request, response, resource, record)


@objects_router.post(
    "/{api_name}",
    response={201: ObjectRecordOut, **_responses(400, 401, 403, 404, 409, 413, 429)},
    operation_id="objects_create",
    url_name="objects_create",
    summary="Create a record of an added object",
)
def objects_create(request: HttpRequest, api_name: str, payload: ObjectRecordIn, response: HttpResponse) -> Status:
    _require_write(request)
    resource = _added(request, api_name)
    if resource.record_type.definition is not None and resource.record_type.definition.archived_at is not None:
        raise ApiError(
            409, "archived", f"{api_name} was removed from Rox: its records are kept, new ones cannot be made."
        )
    record = services.api_record_create(token=request.auth, resource=resource, payload=payload)
    return Status(201, _created(request, response, resource, record))


@objects_router.patch(
    "/{api_name}/{code}",
    response={200: ObjectRecordOut, 412: stale_of(ObjectRecordOut), **_responses(400, 401, 403, 404, 409, 413, 429)},
    operation_id="objects_update",
    url_name="objects_update",
    summary="Change some fields of a record of an added object",
)
def objects_update(
    request: HttpRequest,
    api_name: str,
    code: UUID,
    payload: ObjectRecordPatch,
    response: HttpResponse,
    if_match: Annotated[str | None, Header(alias="If-Match", description=IF_MATCH)] = None,
) -> dict[str, Any]:
    return _updated(request, response, _added(request, api_name), code, payload, if_match)


api.add_router("/objects", objects_router)


# ---------------------------------------------------------------------------------------------------------------
# Salesforce's picklists

picklists_router = Router(tags=["picklists"])
PICKLISTS = (
    "The fields that take one of a Salesforce picklist's values, by resource (`opportunities`, "
    "`objects/Project__c`) and field (custom fields as `custom_fields.<API name>`): those a writing rule of CRM "
    "Mappings sends to a picklist, with its active values and default as Rox last read Salesforce's schema. Empty "
    "when Salesforce is not connected."
)


@picklists_router.get(
    "",
    response={200: dict[str, dict[str, PicklistOut]], **_responses(401, 429)},
    operation_id="picklists_list",
    url_name="picklists_list",
    summary="List the values of Salesforce picklists",
    description=PICKLISTS,
)
def picklists_list(request: HttpRequest) -> dict[str, Any]:
    return services.picklists(token=request.auth)


api.add_router("/picklists", picklists_router)
