#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "roxcrm.settings")
    from roxcrm.devenv import load_sfsim_env

    load_sfsim_env(sys.argv)  # beside `make run`: the same simulated Salesforce (nothing when a real one is set)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
