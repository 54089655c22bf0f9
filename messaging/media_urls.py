"""URLs of media and template sync, under `api/v1/` (the public download at the root: messaging/download_urls.py)."""

from django.urls import path

from messaging import media_api, template_sync_api

urlpatterns = [
    path("media", media_api.MediaList.as_view(), name="api-media-list"),
    path("media/<uuid:public_id>", media_api.MediaDetail.as_view(), name="api-media"),
    path("templates/sync", template_sync_api.TemplateSync.as_view(), name="api-templates-sync"),
]
