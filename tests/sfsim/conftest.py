"""Helpers shared by the sfsim conformance tests (the server itself comes from tests/fixtures_sfsim.py)."""

import uuid

import pytest

API = "/services/data/v59.0"


@pytest.fixture(autouse=True, scope="module")
def _demo_org(sfsim):
    """Each conformance module starts from the ``demo`` seed and the ``ready`` scenario.

    The server is shared by every test on a worker, and which modules a worker ran before this one depends on
    how xdist spread the tests (an integration test may have left the org empty), so the state is set here."""
    sfsim.reset(seed="demo", scenario="ready")


@pytest.fixture
def sf(sfsim):
    """simple-salesforce connected as the integration user through a client-credentials token."""
    return sfsim.salesforce()


@pytest.fixture
def api(sfsim):
    """A requests session carrying a fresh Bearer token; ``api.url(path)`` builds instance URLs."""
    session = sfsim.session()
    token = sfsim.token()
    session.headers["Authorization"] = f"Bearer {token['access_token']}"
    session.url = lambda path: f"{sfsim.instance_url}{API}/{path.lstrip('/')}"
    session.token = token
    return session


@pytest.fixture
def unique():
    return lambda prefix="t": f"{prefix}-{uuid.uuid4().hex[:10]}"
