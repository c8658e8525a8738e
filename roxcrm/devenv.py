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


if __name__ == "__main__":
    sys.exit(main())
