"""Production settings pass Django's deployment checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


def run_check(extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "DEBUG", "SECRET", "SECURE"))}
    env.update(
        {
            "DEBUG": "False",
            "SECRET_KEY": "x" * 20 + "-production-secret-key-with-enough-entropy-1234567890",
            "ALLOWED_HOSTS": "rox.example.com",
            "CSRF_TRUSTED_ORIGINS": "https://rox.example.com",
            "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            **extra_env,
        }
    )
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_deploy_is_clean_with_production_settings() -> None:
    result = run_check({})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_reports_a_missing_encryption_key() -> None:
    result = run_check({"FIELD_ENCRYPTION_KEY": ""})
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY is not set" in result.stdout + result.stderr


def test_manage_py_beside_make_run_uses_its_sfsim_unless_a_real_salesforce_is_set(tmp_path: Path) -> None:
    """`manage.py salesforce sync` from a second terminal while `make run` serves sfsim failed with HOST_NOT_ALLOWED
    (the sfsim settings were only in make run's own processes): make run now records them in .sfsim/env, which
    manage.py reads; a configured connected app, settings already set, and devstack itself are left alone."""
    from roxcrm import devenv

    path = tmp_path / "env"
    devenv.write_sfsim_env({"SALESFORCE_CLIENT_ID": "sfsim-client", "SALESFORCE_ALLOWED_HOSTS": "localhost:8543"}, path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    dotenv = tmp_path / ".env"
    dotenv.write_text("DEBUG=True\n")
    environ: dict[str, str] = {"SALESFORCE_ALLOWED_HOSTS": "mine:1"}
    assert devenv.load_sfsim_env(["manage.py", "salesforce", "sync"], environ, path=path, env_path=dotenv)
    assert environ == {"SALESFORCE_CLIENT_ID": "sfsim-client", "SALESFORCE_ALLOWED_HOSTS": "mine:1"}
    real = {"SALESFORCE_CLIENT_ID": "3MVG9real"}
    assert not devenv.load_sfsim_env(["manage.py", "salesforce", "sync"], real, path=path, env_path=dotenv)
    assert real == {"SALESFORCE_CLIENT_ID": "3MVG9real"}
    dotenv.write_text("SALESFORCE_CLIENT_ID=3MVG9real\n")  # a real connected app in .env
    assert not devenv.load_sfsim_env(["manage.py", "salesforce", "sync"], {}, path=path, env_path=dotenv)
    dotenv.write_text("DEBUG=False\n")  # production settings: sfsim's hosts are never trusted
    assert not devenv.load_sfsim_env(["manage.py", "salesforce", "sync"], {}, path=path, env_path=dotenv)
    assert not devenv.load_sfsim_env(["manage.py", "salesforce", "sync"], {"DEBUG": "False"}, path=path)
    dotenv.write_text("DEBUG=True\n")
    assert not devenv.load_sfsim_env(["manage.py", "devstack"], {}, path=path, env_path=dotenv)
    assert not devenv.load_sfsim_env(["manage.py", "shell"], {}, path=tmp_path / "missing", env_path=dotenv)
