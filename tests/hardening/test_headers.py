"""Security headers (issue 13, hole 9): a CSP on every page with no inline script,
X-Forwarded-Proto trusted only behind a configured proxy, HSTS preload a setting,
and `check --deploy` clean."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tests.factories import login

pytestmark = pytest.mark.django_db

BASE_DIR = Path(__file__).resolve().parent.parent.parent
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/(?:ld\+)?json\")[^>]*>", re.I)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)
STYLE_ATTRIBUTE = re.compile(r"<[^>]+\sstyle\s*=", re.I)
STYLE_ELEMENT = re.compile(r"<style[\s>]", re.I)


def _paths(resolver=None, prefix="") -> list[str]:
    """Every URL without parameters, from the URL configuration itself."""
    resolver = resolver or get_resolver()
    found = []
    for pattern in resolver.url_patterns:
        route = str(pattern.pattern)
        if "<" in route or "(?P" in route or route.startswith("^"):
            if not isinstance(pattern, URLResolver) or "<" in route:
                continue
        if isinstance(pattern, URLResolver):
            found += _paths(pattern, prefix + route.lstrip("^"))
        elif isinstance(pattern, URLPattern):
            found.append("/" + prefix + route.rstrip("$"))
    return found


def _csp(response) -> dict[str, str]:
    header = response.get("Content-Security-Policy", "")
    return {part.split()[0]: part for part in (p.strip() for p in header.split(";")) if part}


def assert_strict_csp(response, path):
    policy = _csp(response)
    assert policy, f"{path}: no Content-Security-Policy"
    script = policy.get("script-src", policy.get("default-src", ""))
    assert "'unsafe-inline'" not in script and "'unsafe-eval'" not in script, (path, script)
    assert "object-src 'none'" in policy.get("object-src", ""), path
    assert "frame-ancestors" in policy, path


def assert_no_inline_code(html: str, path: str, *, styles: bool = True):
    assert not INLINE_SCRIPT.search(html), f"{path}: inline <script>: {INLINE_SCRIPT.search(html).group(0)}"
    assert not EVENT_HANDLER.search(html), f"{path}: event handler attribute: {EVENT_HANDLER.search(html).group(0)}"
    if styles:
        assert not STYLE_ATTRIBUTE.search(html), f"{path}: style attribute: {STYLE_ATTRIBUTE.search(html).group(0)}"
        assert not STYLE_ELEMENT.search(html), f"{path}: <style> element"


def test_every_portal_page_has_a_strict_csp_and_no_inline_code(owner, acme):
    from tests.factories import make_account

    make_account(acme)
    client = login(owner)
    portal = [p for p in _paths() if p.startswith("/portal/")]
    assert len(portal) > 15
    checked = 0
    for path in portal:
        response = client.get(path)
        if response.status_code != 200 or not response["Content-Type"].startswith("text/html"):
            continue
        assert_strict_csp(response, path)
        assert_no_inline_code(response.content.decode(), path)
        checked += 1
    assert checked > 10


def test_logged_out_pages_error_pages_and_the_api_have_a_csp(client, owner):
    for path in ("/portal/login/", "/portal/signup/", "/portal/password-reset/", "/portal/no-such-page/", "/privacy/"):
        response = client.get(path)
        assert_strict_csp(response, path)
        if response["Content-Type"].startswith("text/html"):
            assert_no_inline_code(response.content.decode(), path)
    for path in ("/api/v1/messages", "/api/v1/nope", "/healthz"):
        assert_strict_csp(client.get(path), path)


def test_our_pages_in_the_admin_have_a_csp_and_no_inline_code(db, django_user_model):
    staff = django_user_model.objects.create_superuser("root@jood.test", "x")
    client = login(staff)
    admin = ["/admin/", "/admin/messaging/message/operations/", "/admin/accounts/organization/"]
    admin += ["/admin/messaging/message/"]
    admin += [p for p in _paths() if p.startswith("/admin/jood/") or p.startswith("/admin/retention/")]
    for path in admin:
        response = client.get(path)
        if response.status_code != 200:
            continue
        assert_strict_csp(response, path)
        assert_no_inline_code(response.content.decode(), path, styles=False)
    # Our own admin templates carry no inline style either.
    for template in (BASE_DIR / "jood" / "templates" / "admin").rglob("*.html"):
        text = template.read_text()
        assert not STYLE_ATTRIBUTE.search(text) and not STYLE_ELEMENT.search(text), template


def test_the_api_docs_allow_only_what_redoc_needs(client, db):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    policy = _csp(response)
    assert "'unsafe-inline'" not in policy.get("script-src", policy["default-src"])
    assert "blob:" in policy.get("worker-src", "")
    assert_no_inline_code(response.content.decode(), "/api/docs/", styles=False)
    assert "fonts.googleapis.com" not in response.content.decode()


def test_templates_carry_no_inline_script_or_handler():
    for app in ("accounts", "messaging", "providers", "retention", "webhooks", "jood"):
        for template in (BASE_DIR / app / "templates").rglob("*.html"):
            text = template.read_text()
            assert not INLINE_SCRIPT.search(text.replace("json_script", "")), template
            assert not EVENT_HANDLER.search(text), template
            if "templates/admin" not in str(template):
                assert not STYLE_ATTRIBUTE.search(text), template


# --- settings from the environment ---------------------------------------------------------


PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "x" * 64 + "-production-like-secret-for-the-check",
    "FIELD_ENCRYPTION_KEY": "Xb0QJmKJ4x4t8o6p3k3VqQ5rUJvZ1cXvYb8m9mC4G1A=",
    "ALLOWED_HOSTS": "jood.example.com",
    "PUBLIC_BASE_URL": "https://jood.example.com",
    "DJANGO_SETTINGS_MODULE": "jood.settings",
}


def _run(code: str, **env) -> subprocess.CompletedProcess:
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **PRODUCTION, **env}
    environment.pop("DATABASE_URL", None)
    environment.pop("REDIS_URL", None)
    environment["VAR_DIR"] = os.environ.get("TMPDIR", "/tmp") + "/jood-check-var"
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env=environment,
        capture_output=True,
        text=True,
        cwd=BASE_DIR,
        timeout=300,
    )


def _setting(name: str, **env) -> str:
    out = _run(f"from django.conf import settings; print(repr(getattr(settings, {name!r}, None)))", **env)
    assert out.returncode == 0, out.stderr[-800:]
    return out.stdout.strip()


CHECK_DEPLOY = (
    "from django.core.management import call_command; call_command('check', deploy=True, fail_level='WARNING')"
)


def test_check_deploy_is_clean():
    out = _run(CHECK_DEPLOY)
    assert out.returncode == 0, (out.stdout[-1000:], out.stderr[-2000:])


def test_check_deploy_is_clean_with_preload_off_and_behind_a_proxy():
    out = _run(
        CHECK_DEPLOY,
        SECURE_HSTS_PRELOAD="false",
        TRUSTED_PROXY_COUNT="1",
    )
    assert out.returncode == 0, out.stderr[-2000:]


def test_x_forwarded_proto_is_trusted_only_behind_a_configured_proxy():
    assert _setting("SECURE_PROXY_SSL_HEADER") == "None"
    assert _setting("SECURE_PROXY_SSL_HEADER", TRUST_X_FORWARDED_PROTO="true") == "('HTTP_X_FORWARDED_PROTO', 'https')"
    assert _setting("SECURE_PROXY_SSL_HEADER", TRUSTED_PROXY_COUNT="1") == "('HTTP_X_FORWARDED_PROTO', 'https')"


def test_hsts_preload_is_a_setting():
    assert _setting("SECURE_HSTS_PRELOAD") == "True"
    assert _setting("SECURE_HSTS_PRELOAD", SECURE_HSTS_PRELOAD="false") == "False"


def test_a_forged_x_forwarded_proto_does_not_make_a_request_secure(client, settings):
    settings.SECURE_PROXY_SSL_HEADER = None
    response = client.get("/healthz", HTTP_X_FORWARDED_PROTO="https")
    assert response.wsgi_request.is_secure() is False
