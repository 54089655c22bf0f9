"""Ask for consent again when the privacy policy changes.

A logged-in user whose `privacy_policy_version` is not the current one
(settings.PRIVACY_POLICY_VERSION) is sent from any portal page to
`/privacy/accept/`, and back once they accept. Logging out, the privacy pages
and the portal's privacy page (where they can delete their account instead)
stay open. The API, the admin and webhooks are never redirected.

Goes after AuthenticationMiddleware in MIDDLEWARE.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpResponseRedirect
from django.urls import Resolver404, resolve, reverse

from accounts.services import current_policy_version

PORTAL_PREFIX = "/portal/"
# Portal pages a user reaches without accepting first.
OPEN_URL_NAMES = {
    "portal-login",
    "portal-logout",
    "portal-signup",
    "portal-password-reset",
    "portal-password-reset-done",
    "portal-password-reset-confirm",
    "portal-password-reset-complete",
    "portal-privacy",
    "portal-privacy-delete-account",
    "portal-privacy-my-data",
    "portal-privacy-consent",
}


class PrivacyConsentMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if self._must_accept(request):
            query = urlencode({"next": request.get_full_path()}) if request.method == "GET" else ""
            return HttpResponseRedirect(reverse("privacy-accept") + (f"?{query}" if query else ""))
        return self.get_response(request)

    @staticmethod
    def _must_accept(request) -> bool:
        if not request.path_info.startswith(PORTAL_PREFIX):
            return False
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return False
        if getattr(user, "privacy_policy_version", None) == current_policy_version():
            return False
        if getattr(user, "consent_withdrawn_at", None) is not None:
            # They withdrew it on purpose: the portal is read-only for them, not a wall.
            return False
        try:
            name = resolve(request.path_info).url_name
        except Resolver404:
            return False
        return name not in OPEN_URL_NAMES
