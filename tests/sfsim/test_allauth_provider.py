"""django-allauth's Salesforce provider, unmodified, signs in against sfsim: authorize → token → userinfo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def test_allauth_salesforce_provider_round_trip(sfsim: Any) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.sfsim.allauth_project",
            sfsim.login_url,
            sfsim.ca_path,
            sfsim.client_id,
            sfsim.client_secret,
            sfsim.username,
            sfsim.password,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["authorize_url"].startswith(f"{sfsim.login_url}/services/oauth2/authorize?")
    assert "code_challenge=" in outcome["authorize_url"]
    assert outcome["callback_status"] == 302
    assert outcome["uid"].startswith("005") and len(outcome["uid"]) == 18
    assert outcome["email"]
    assert {"user_id", "organization_id", "preferred_username", "email"} <= set(outcome["extra_data_keys"])
    assert outcome["has_access_token"] and outcome["has_refresh_token"]
