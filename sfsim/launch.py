"""Start a real sfsim server in a subprocess and talk to it: used by the pytest fixture and the benchmarks."""

import contextlib
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from . import defaults

if TYPE_CHECKING:
    from simple_salesforce import Salesforce

REPO = Path(__file__).resolve().parent.parent
API_VERSION = defaults.API_VERSION


class ControlError(AssertionError):
    pass


@dataclass
class SfsimServer:
    instance_url: str
    login_url: str
    ca_path: str
    client_id: str
    client_secret: str
    username: str
    password: str
    data_dir: Path
    port: int
    process: subprocess.Popen | None = None
    _http: requests.Session | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._http = self.session()

    @property
    def allowed_hosts(self) -> str:
        """Its login and instance hosts, as Rox's SALESFORCE_ALLOWED_HOSTS lists them (comma-separated)."""
        return ",".join(url.removeprefix("https://") for url in (self.login_url, self.instance_url))

    def control(self, method: str, path: str, json: object = None, expect_ok: bool = True) -> Any:
        """Calls the control API (``path`` relative to ``/_sfsim/``) and returns its JSON answer."""
        resp = self._http.request(method, f"{self.instance_url}/_sfsim/{path.lstrip('/')}", json=json, timeout=120)
        if expect_ok and resp.status_code >= 400:
            raise ControlError(f"{method} /_sfsim/{path}: {resp.status_code} {resp.text}")
        return resp.json() if resp.content else None

    def reset(self, seed: str = "demo", scenario: str = "ready") -> dict:
        return self.control("POST", "reset", {"seed": seed, "scenario": scenario})

    def session(self) -> requests.Session:
        """A requests session that trusts the simulator's CA (verification stays on).

        ``trust_env`` is off because requests lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` from the environment
        override ``Session.verify`` whenever a call passes no ``verify`` of its own, as simple-salesforce does."""
        s = requests.Session()
        s.verify = self.ca_path
        s.trust_env = False
        return s

    def token(self) -> dict:
        """A client-credentials token for the integration user (the admin)."""
        resp = self.session().post(
            f"{self.login_url}/services/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.client_secret},
            timeout=30,
        )
        resp.raise_for_status()
        return resp.json()

    def salesforce(self, version: str = API_VERSION, token: dict | None = None) -> "Salesforce":
        """A ready-to-use simple_salesforce.Salesforce aimed at the simulator."""
        from simple_salesforce import Salesforce

        token = token or self.token()
        return Salesforce(
            instance_url=token["instance_url"],
            session_id=token["access_token"],
            session=self.session(),
            version=version,
        )

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sfsim(
    data_dir: Path, seed: str = "demo", scenario: str = "ready", timeout: float = 60, control: bool = True
) -> SfsimServer:
    port = free_port()
    log = (data_dir / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sfsim",
            "serve",
            "--data",
            str(data_dir),
            "--port",
            str(port),
            "--seed",
            seed,
            "--scenario",
            scenario,
            *(["--control"] if control else []),
        ],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "SFSIM_EXIT_WITH_PARENT": "1"},
    )
    server = SfsimServer(
        instance_url=f"https://{defaults.INSTANCE_HOSTNAME}:{port}",
        login_url=f"https://{defaults.LOGIN_HOSTNAME}:{port}",
        ca_path=str(data_dir / "ca.pem"),
        client_id=defaults.CLIENT_ID,
        client_secret=defaults.CLIENT_SECRET,
        username=defaults.ADMIN_USERNAME,
        password=defaults.ADMIN_PASSWORD,
        data_dir=data_dir,
        port=port,
        process=proc,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sfsim exited early:\n{(data_dir / 'server.log').read_text()}")
        if (data_dir / "ca.pem").exists():
            try:
                if control:
                    server.control("GET", "health")
                else:
                    server.session().get(f"{server.instance_url}/services/data/", timeout=5).raise_for_status()
                return server
            except (requests.RequestException, ControlError, OSError):
                pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"sfsim did not answer within {timeout}s:\n{(data_dir / 'server.log').read_text()}")
