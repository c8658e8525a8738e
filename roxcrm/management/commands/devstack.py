"""`make run`: migrate, create the demo organization once, then run every process of the product in the
foreground (web server, django-q2 worker, and sfsim as its Salesforce) until Ctrl-C stops them all.

When a real Salesforce connected app is configured (``SALESFORCE_CLIENT_ID`` set), sfsim is not started and the
product talks to the configured login URL instead."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

STOP_GRACE_SECONDS = 10
READY_TIMEOUT_SECONDS = 60


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    # Later children start only once this file exists (sfsim's CA, which the others must trust).
    ready_file: Path | None = None
    process: subprocess.Popen[bytes] | None = None


class Command(BaseCommand):
    help = "Run the whole product for development: web server and worker, stopped together with Ctrl-C."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8000", help="Address of the web server.")
        parser.add_argument("--no-worker", action="store_true", help="Do not start the django-q2 worker.")
        parser.add_argument("--sfsim-port", type=int, default=8443, help="Port of the simulated Salesforce org.")

    def handle(self, *args: Any, addr: str, no_worker: bool, sfsim_port: int, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database is up to date.")
        call_command("bootstrap_demo", url=f"http://{addr}")
        python = sys.executable
        manage = str(settings.BASE_DIR / "manage.py")
        children: list[Child] = []
        env: dict[str, str] = {}
        if not settings.SALESFORCE_CLIENT_ID:
            sfsim, env = _sfsim(python, sfsim_port, self.stdout.write)
            children.append(sfsim)
        else:
            self.stdout.write(
                f"Salesforce: the connected app {settings.SALESFORCE_CLIENT_ID} at {settings.SALESFORCE_LOGIN_URL}"
            )
        if "SITE_URL" not in os.environ:  # links the app sends (invitations) point at where it runs
            env = {**env, "SITE_URL": f"http://{addr}"}
        children.append(Child("web", [python, manage, "runserver", "--noreload", addr], env))
        if not no_worker:
            children.append(Child("worker", [python, manage, "qcluster"], env))
        sys.exit(supervise(children, self.stdout.write))


def _sfsim(python: str, port: int, write: Any) -> tuple[Child, dict[str, str]]:
    """sfsim as the org to connect to: seeded with demo data and in the `ready` scenario the first time (later
    starts keep whatever scenario was switched to), with its CA trusted for Salesforce calls only."""
    from sfsim import defaults

    data = settings.BASE_DIR / ".sfsim"
    argv = [python, "-m", "sfsim", "serve", "--data", str(data), "--port", str(port), "--seed", "demo", "--control"]
    if not (data / "org.sqlite3").exists():
        argv += ["--scenario", "ready"]
    login_url = f"https://{defaults.LOGIN_HOSTNAME}:{port}"
    env = {
        "SALESFORCE_LOGIN_URL": login_url,
        "SALESFORCE_CLIENT_ID": defaults.CLIENT_ID,
        "SALESFORCE_CLIENT_SECRET": defaults.CLIENT_SECRET,
        "SALESFORCE_CA_BUNDLE": str(data / "ca.pem"),
        # sfsim's two names (login and instance host, as login.salesforce.com and a My Domain are) on its port.
        "SALESFORCE_ALLOWED_HOSTS": f"{defaults.LOGIN_HOSTNAME}:{port},{defaults.INSTANCE_HOSTNAME}:{port}",
    }
    from roxcrm.devenv import write_sfsim_env

    write_sfsim_env(env)  # for `manage.py` commands run from another terminal meanwhile
    write(
        f"Salesforce: simulated by sfsim at {login_url}. When Rox sends you to sign in, use\n"
        f"  Username  {defaults.ADMIN_USERNAME}\n  Password  {defaults.ADMIN_PASSWORD}"
    )
    return Child("sfsim", argv, ready_file=data / "ca.pem"), env


def supervise(children: list[Child], write: Any) -> int:
    """Start every child in its own process group, echo their output with a name prefix, and stop them all when
    one exits or when we are asked to stop (Ctrl-C, SIGTERM). Returns the exit status to use."""
    stopping = threading.Event()

    def request_stop(signum: int, frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    width = max(len(c.name) for c in children)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for child in children:
        child.process = subprocess.Popen(
            child.argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**env, **child.env},
        )
        threading.Thread(target=_echo, args=(child, width, write), daemon=True).start()
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while child.ready_file and not child.ready_file.exists() and child.process.poll() is None:
            if time.monotonic() > deadline or stopping.wait(0.1):
                break
    write(f"Started {', '.join(c.name for c in children)}. Press Ctrl-C to stop.")
    status = 0
    while not stopping.is_set():
        for child in children:
            code = child.process.poll() if child.process else None
            if code is not None:
                write(f"{child.name} exited with status {code}; stopping the others.")
                status = code or 1
                stopping.set()
                break
        stopping.wait(0.5)
    _stop_all(children, write)
    return status


def _echo(child: Child, width: int, write: Any) -> None:
    assert child.process and child.process.stdout
    for raw in iter(child.process.stdout.readline, b""):
        write(f"{child.name:<{width}} | {raw.decode(errors='replace').rstrip()}")


def _stop_all(children: list[Child], write: Any) -> None:
    running = [c for c in children if c.process and c.process.poll() is None]
    for child in running:
        # Only the child itself: it stops its own workers in order (django-q2's cluster does); the whole group is
        # killed only if it does not stop in time.
        assert child.process
        child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in running:
        assert child.process
        try:
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            write(f"{child.name} did not stop in {STOP_GRACE_SECONDS}s; killing it.")
            _signal_group(child, signal.SIGKILL)
            child.process.wait()
    write("All stopped.")


def _signal_group(child: Child, signum: int) -> None:
    assert child.process
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.process.pid, signum)
