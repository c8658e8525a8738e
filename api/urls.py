from django.urls import path

from api import views
from api.endpoints import api

# Under /api/v1/: the API, its OpenAPI description (openapi.json) and its documentation page (docs).
urlpatterns = [path("", api.urls)]

# Under /o/<org_slug>/settings/api-tokens/
organization_patterns = [
    path("", views.token_list, name="api_tokens"),
    path("<uuid:code>/revoke/", views.token_revoke_view, name="api_token_revoke"),
    path("<uuid:code>/reissue/", views.token_reissue_view, name="api_token_reissue"),
]
