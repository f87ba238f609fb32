"""Production mode: start-up refuses unsafe secrets, and `check --deploy` is clean."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.once  # manage.py in an environment of its own: the same in both passes


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTAKE_DATA_DIR": str(ROOT / "var" / "test-check"),
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120
    )


def test_production_mode_refuses_to_start_without_a_secret_key():
    missing = manage("check")
    assert missing.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in missing.stderr
    dev_key = manage("check", DJANGO_SECRET_KEY="pytake-dev-secret-key-do-not-use-in-production")
    assert dev_key.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in dev_key.stderr


def test_check_deploy_is_clean_with_the_documented_production_settings():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        PYTAKE_HSTS_SECONDS="31536000",
        PYTAKE_HSTS_INCLUDE_SUBDOMAINS="1",
        PYTAKE_HSTS_PRELOAD="1",
        PYTAKE_SSL_REDIRECT="1",
        PYTAKE_SECRETS_KEY=Fernet.generate_key().decode(),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_when_secrets_hang_on_the_secret_key():
    result = manage("check", "--deploy", "--fail-level", "WARNING", DJANGO_SECRET_KEY=secrets.token_urlsafe(50))
    assert result.returncode != 0
    assert "pytake.W001" in result.stdout + result.stderr
