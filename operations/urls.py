"""The operator's endpoints over every app, mounted at the site root by jood/urls.py."""

from django.urls import path

from operations import views

urlpatterns = [
    path("healthz/ready", views.healthz_ready, name="healthz-ready"),
    path("metrics", views.metrics, name="metrics"),
]
