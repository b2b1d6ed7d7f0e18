import pytest
from prefect.testing.utilities import prefect_test_harness

from components.home import Home


@pytest.fixture(scope="session", autouse=True)
def prefect_harness():
    """One temporary Prefect API for the whole session: starting it costs ~10 s."""
    with prefect_test_harness(server_startup_timeout=60):
        yield


@pytest.fixture
def home(tmp_path, monkeypatch) -> Home:
    monkeypatch.setenv("WEBTEXT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PREFECT_HOME", raising=False)  # the CLI sets it; undone after the test
    return Home.from_env()
