"""Write a development ``.env`` once (``make run`` and ``make test`` call this; it needs only the stdlib).

It never overwrites an existing ``.env``: keys generated here keep sessions and encrypted tokens valid across
restarts. Production never uses this: set the environment variables instead (README, "Configuration").
"""

import base64
import os
import secrets
import sys
from pathlib import Path

ENV_PATH = Path(__file__).resolve().parent.parent / ".env"
# What `make run` sets for the processes it starts when sfsim plays Salesforce (its URL, port, CA, connected app),
# written by `devstack` so that `manage.py` commands run from another terminal talk to the same sfsim.
SFSIM_ENV_PATH = Path(__file__).resolve().parent.parent / ".sfsim" / "env"


def main() -> int:
    if ENV_PATH.exists():
        return 0
    lines = [
        "# Development settings written once by `make run`. Not for production; never commit this file.",
        "DEBUG=True",
        f"SECRET_KEY={secrets.token_urlsafe(50)}",
        f"FIELD_ENCRYPTION_KEY={base64.urlsafe_b64encode(os.urandom(32)).decode()}",
        f"DEMO_ADMIN_PASSWORD={secrets.token_urlsafe(12)}",
        "",
    ]
    ENV_PATH.write_text("\n".join(lines))
    ENV_PATH.chmod(0o600)
    print(f"Wrote development settings to {ENV_PATH}")
    return 0


def write_sfsim_env(values: dict[str, str], path: Path = SFSIM_ENV_PATH) -> None:
    """Record the sfsim settings `make run` gives its processes (``devstack``)."""
    path.parent.mkdir(exist_ok=True)
    path.write_text("".join(f"{key}={value}\n" for key, value in sorted(values.items())))
    path.chmod(0o600)


def load_sfsim_env(
    argv: list[str],
    environ: dict[str, str] | None = None,
    *,
    path: Path = SFSIM_ENV_PATH,
    env_path: Path = ENV_PATH,
) -> bool:
    """For a ``manage.py`` command run beside `make run`: take sfsim's settings from the file `make run` wrote, in
    development only (``DEBUG`` on), unless a real Salesforce connected app is configured (``SALESFORCE_CLIENT_ID``
    in the environment or ``.env``), and never for ``devstack`` itself (which decides). Settings already in the
    environment win. Returns whether it loaded them."""
    environ = os.environ if environ is None else environ  # type: ignore[assignment]
    if (len(argv) > 1 and argv[1] == "devstack") or not path.exists():
        return False
    dotenv = dict(
        line.strip().split("=", 1)
        for line in (env_path.read_text().splitlines() if env_path.exists() else [])
        if "=" in line and not line.strip().startswith("#")
    )
    setting = {**dotenv, **environ}
    if setting.get("SALESFORCE_CLIENT_ID", "").strip():
        return False  # a real connected app is configured
    if setting.get("DEBUG", "").strip().lower() not in ("true", "1", "yes", "on"):
        return False  # development only: a production checkout never trusts sfsim's hosts

    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            environ.setdefault(key.strip(), value.strip())
    return True


if __name__ == "__main__":
    sys.exit(main())
