"""Requests whose address no view could serve are refused before any view runs."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

NUL = "\x00"
NUL_REFUSED = "The address holds a NUL character (%00), which Rox never accepts; nothing was done."


class RefuseNulMiddleware:
    """Answers 400 to a URL with a NUL character (``%00``) in its path or query string.

    PostgreSQL cannot hold NUL in a string, so such a value reaching a lookup fails the request with a server error
    (an invitation token, an object id or a list filter in the Django admin, a search); no link carries one. Refusing
    it here keeps it from every view, the Django admin's and allauth's included. The API gets its JSON error format.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        names = [name for name, values in request.GET.lists() if NUL in name or any(NUL in v for v in values)]
        if NUL not in request.path and not names:
            return self.get_response(request)
        if request.path.startswith("/api/"):
            fields = {name: ["NUL characters are not allowed."] for name in names}
            return JsonResponse({"code": "invalid", "message": NUL_REFUSED, "fields": fields}, status=400)
        return HttpResponseBadRequest(NUL_REFUSED, content_type="text/plain; charset=utf-8")
