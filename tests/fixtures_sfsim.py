"""pytest plugin: one real sfsim server (``python -m sfsim serve``) per test session, or per xdist worker.

The server runs on a free port with a fresh data directory, scenario ``ready``, the control API on, and the
``demo`` seed. Tests isolate themselves with fresh records or ``sfsim.reset(...)``, never by restarting it.
The fixture yields a :class:`sfsim.launch.SfsimServer`.
"""

import tempfile
from pathlib import Path

import pytest

from sfsim.launch import SfsimServer, start_sfsim

__all__ = ["SfsimServer", "sfsim", "start_sfsim"]


@pytest.fixture(scope="session")
def sfsim():
    with tempfile.TemporaryDirectory(prefix="sfsim-test-") as tmp:
        server = start_sfsim(Path(tmp))
        try:
            yield server
        finally:
            server.stop()
