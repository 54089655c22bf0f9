"""Public pages of the retention app, mounted at the site root: the privacy policy and consent."""

from django.urls import path

from retention import views

urlpatterns = [
    path("privacy/", views.privacy_policy, name="privacy-policy"),
    path("privacy/accept/", views.privacy_accept, name="privacy-accept"),
]
