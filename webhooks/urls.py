"""Provider callback intake; the project mounts it at /webhooks/."""

from django.urls import path

from webhooks import views

urlpatterns = [
    path("<str:provider>/<uuid:account_id>/", views.intake, name="webhook-intake"),
]
