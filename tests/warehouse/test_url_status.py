import re

import duckdb
import pytest

from webtext import warehouse
from webtext.components.crawl.status import UrlStatus
from webtext.warehouse import crawl as queries


@pytest.fixture
def con(tmp_path):
    con = warehouse.connect(tmp_path / "w.duckdb")
    yield con
    con.close()


def test_the_status_check_constraint_allows_exactly_the_enum(con):
    (expression,) = con.execute(
        "SELECT expression FROM duckdb_constraints() "
        "WHERE table_name = 'urls' AND constraint_type = 'CHECK' AND constraint_column_names = ['status']"
    ).fetchone()
    assert set(re.findall(r"'([^']*)'", expression)) == {status.value for status in UrlStatus}


def test_every_status_is_accepted_and_no_other(con):
    for status in UrlStatus:
        con.execute("INSERT INTO urls (url, status, added_at, added_by) VALUES (?, ?, now(), 'test')",
                    [f"http://{status}.example/", status])
    assert dict(con.execute("SELECT status, count(*) FROM urls GROUP BY status").fetchall()) == {
        status.value: 1 for status in UrlStatus
    }
    with pytest.raises(duckdb.ConstraintException):
        con.execute("INSERT INTO urls (url, status, added_at, added_by) "
                    "VALUES ('http://x.example/', 'fetched', now(), 'test')")


def test_the_report_lists_every_terminal_status_once():
    assert UrlStatus.pending not in queries.STATUSES
    assert set(queries.STATUSES) | {UrlStatus.pending} == set(UrlStatus)
    assert len(set(queries.STATUSES)) == len(queries.STATUSES)
