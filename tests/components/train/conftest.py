import pytest

from tests.components.train.runs import make_token_set


@pytest.fixture(scope="session")
def tokens(tmp_path_factory):
    return make_token_set(tmp_path_factory.mktemp("tokens"))
