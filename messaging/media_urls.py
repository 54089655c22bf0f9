"""URLs of media and template sync.

Two lists, for two places in jood/urls.py:
- `urlpatterns`, under `api/v1/`: `path("", include("messaging.media_urls"))`;
- `download_urlpatterns`, at the root: `path("", include(media_urls.download_urlpatterns))`,
  the public signed download ("media-download", what `messaging.media.signed_url` builds).
"""

from django.urls import path

from messaging import media_api, template_sync_api

urlpatterns = [
    path("media", media_api.MediaList.as_view(), name="api-media-list"),
    path("media/<uuid:public_id>", media_api.MediaDetail.as_view(), name="api-media"),
    path("templates/sync", template_sync_api.TemplateSync.as_view(), name="api-templates-sync"),
]

download_urlpatterns = [
    path("media/signed/<str:token>/", media_api.media_download, name="media-download"),
]
