"""The register stage's SQL against a real migrated warehouse: versions, aliases and promotions."""

import duckdb
import pytest

from webtext import warehouse
from webtext.warehouse import registry as queries


@pytest.fixture
def con(tmp_path):
    with warehouse.connect(tmp_path / "warehouse.duckdb") as con:
        yield con


def register(con, name: str, checkpoint_id: str) -> int:
    number = queries.next_version(con, name)
    queries.record_version(con, name=name, number=number, checkpoint_id=checkpoint_id,
                           path=f"{name}/{number}", lineage_sha256=f"sha-{checkpoint_id}")
    return number


def test_versions_number_from_one_per_model(con):
    assert queries.next_version(con, "webtext-tiny") == 1
    assert [register(con, "webtext-tiny", c) for c in ("c1", "c2")] == [1, 2]
    assert register(con, "other", "c1") == 1
    assert queries.next_version(con, "webtext-tiny") == 3
    assert [(v["name"], v["version"], v["checkpoint_id"], v["path"], v["lineage_sha256"], v["aliases"])
            for v in queries.versions(con)] == [
        ("other", 1, "c1", "other/1", "sha-c1", []),
        ("webtext-tiny", 1, "c1", "webtext-tiny/1", "sha-c1", []),
        ("webtext-tiny", 2, "c2", "webtext-tiny/2", "sha-c2", [])]
    assert queries.latest(con, "webtext-tiny")["version"] == 2 and queries.latest(con, "none") is None
    assert queries.version(con, "webtext-tiny", 1)["checkpoint_id"] == "c1"
    assert queries.version(con, "webtext-tiny", 3) is None
    assert queries.version_of_checkpoint(con, "webtext-tiny", "c2")["version"] == 2
    assert queries.version_of_checkpoint(con, "webtext-tiny", "c3") is None


def test_a_checkpoint_is_one_version_of_a_model(con):
    register(con, "webtext-tiny", "c1")
    with pytest.raises(duckdb.ConstraintException):
        register(con, "webtext-tiny", "c1")
    assert [v["version"] for v in queries.versions(con)] == [1]


def test_a_granted_promotion_moves_the_alias_and_every_request_is_logged(con):
    for checkpoint_id in ("c1", "c2"):
        register(con, "m", checkpoint_id)
    assert queries.holder(con, "m", "champion") is None
    queries.record_promotion(con, name="m", number=1, alias="champion", accepted=True, reason=None)
    queries.record_promotion(con, name="m", number=2, alias="champion", accepted=False,
                             reason="texts bpb 2.1 > 1.9")
    assert queries.holder(con, "m", "champion")["version"] == 1
    queries.record_promotion(con, name="m", number=2, alias="champion", accepted=True,
                             reason="forced past: texts bpb 2.1 > 1.9")
    queries.record_promotion(con, name="m", number=2, alias="staging", accepted=True, reason=None)
    champion = queries.holder(con, "m", "champion")
    assert (champion["version"], champion["aliases"]) == (2, ["champion", "staging"])
    assert queries.version(con, "m", 1)["aliases"] == []
    assert [(p["alias"], p["accepted"], p["reason"]) for p in queries.promotions(con, "m", 2)] == [
        ("champion", False, "texts bpb 2.1 > 1.9"), ("champion", True, "forced past: texts bpb 2.1 > 1.9"),
        ("staging", True, None)]
    assert [(p["alias"], p["accepted"]) for p in queries.promotions(con, "m", 1)] == [("champion", True)]


def test_a_fine_tuned_version_names_its_parent_version(con):
    register(con, "webtext-tiny", "c1")
    queries.record_version(con, name="webtext-tiny-sentiment", number=1, checkpoint_id="f1",
                           path="webtext-tiny-sentiment/1", lineage_sha256="sha-f1",
                           parent=("webtext-tiny", 1))
    tuned = queries.version(con, "webtext-tiny-sentiment", 1)
    assert (tuned["parent_name"], tuned["parent_version"]) == ("webtext-tiny", 1)
    assert queries.version(con, "webtext-tiny", 1)["parent_name"] is None
    assert [v["name"] for v in queries.children(con, "webtext-tiny", 1)] == ["webtext-tiny-sentiment"]
    assert queries.children(con, "webtext-tiny-sentiment", 1) == []
