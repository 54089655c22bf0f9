"""The public signed media download at the site root ("media-download", what `messaging.media.signed_url` builds).

Mounted by jood/urls.py: `path("", include("messaging.download_urls"))`.
"""

from django.urls import path

from messaging import media_api

urlpatterns = [
    path("media/signed/<str:token>/", media_api.media_download, name="media-download"),
]
