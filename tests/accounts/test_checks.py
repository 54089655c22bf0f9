"""Start-up checks: production settings pass `check --deploy`; our own checks name the setting."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet
from django.test import override_settings

from accounts.checks import check_field_encryption_key, check_public_base_url

BASE_DIR = Path(__file__).resolve().parents[2]


def _production_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="jood.settings",
        DEBUG="False",
        SECRET_KEY=secrets.token_urlsafe(64),
        FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="notify.example.com",
        PUBLIC_BASE_URL="https://notify.example.com",
    )
    env.update(overrides)
    return env


def _check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings():
    result = _check_deploy(_production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stderr + result.stdout


def test_check_deploy_fails_on_an_http_public_base_url():
    result = _check_deploy(_production_env(PUBLIC_BASE_URL="http://notify.example.com"))
    assert result.returncode != 0
    assert "accounts.E001" in result.stderr
    assert "PUBLIC_BASE_URL" in result.stderr


@override_settings(DEBUG=False, PUBLIC_BASE_URL="http://notify.example.com")
def test_an_http_public_base_url_is_an_error_when_debug_is_off():
    (error,) = check_public_base_url(None)
    assert error.id == "accounts.E001"
    assert "PUBLIC_BASE_URL" in error.msg


@override_settings(DEBUG=True, PUBLIC_BASE_URL="http://localhost:8000")
def test_an_http_public_base_url_is_fine_on_a_laptop():
    assert check_public_base_url(None) == []


def test_valid_fernet_keys_pass():
    keys = [Fernet.generate_key().decode(), Fernet.generate_key().decode()]
    with override_settings(FIELD_ENCRYPTION_KEY=keys):
        assert check_field_encryption_key(None) == []


def test_an_invalid_fernet_key_is_named_but_not_echoed():
    bad = "not-a-fernet-key-but-still-secret"
    with override_settings(FIELD_ENCRYPTION_KEY=[Fernet.generate_key().decode(), bad]):
        (error,) = check_field_encryption_key(None)
    assert error.id == "accounts.E003"
    assert "FIELD_ENCRYPTION_KEY key #2" in error.msg
    assert bad not in error.msg + error.hint


def test_an_empty_field_encryption_key_is_an_error():
    with override_settings(FIELD_ENCRYPTION_KEY=[]):
        (error,) = check_field_encryption_key(None)
    assert error.id == "accounts.E002"
