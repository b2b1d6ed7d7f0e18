"""Building the sample: byte-identical on every run, atomic, and left alone when up to date."""

import json

from webtext.components.config import SampleConfig
from webtext.components.sample import build_sample, build_site, ground_truth

TINY = SampleConfig(articles=8, slow_pages=False)


def test_two_builds_are_byte_identical(tmp_path):
    first, second = build_sample(tmp_path / "a", TINY), build_sample(tmp_path / "b", TINY)
    assert first.dump.read_bytes() == second.dump.read_bytes()
    for task in [*(tmp_path / "a" / "tasks").rglob("*.*"), *(tmp_path / "a" / "texts").rglob("*.*")]:
        assert task.read_bytes() == (tmp_path / "b" / task.relative_to(tmp_path / "a")).read_bytes()
    assert first.ground_truth.read_bytes() == second.ground_truth.read_bytes()
    assert first.dump.name == "RS_sample.ndjson.zst"
    assert first.ground_truth.name == "ground_truth.json"


def test_rebuild_leaves_identical_files_alone(tmp_path):
    first = build_sample(tmp_path, TINY)
    stamps = [p.stat().st_mtime_ns for p in (first.dump, first.ground_truth)]
    again = build_sample(tmp_path, TINY)
    assert first.written and not again.written
    assert [p.stat().st_mtime_ns for p in (again.dump, again.ground_truth)] == stamps
    names = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    labelled = [f"tasks/{task}/{split}.tsv" for task in ("inference", "paraphrase", "sentiment", "story")
                for split in ("train", "validation")]
    tasks = sorted([*labelled, "tasks/cloze/validation.tsv", "tasks/lastword/test.jsonl",
                    "tasks/lastword/train.jsonl"])
    instruct = [f"instruct/{kind}/{split}.jsonl"
                for kind in ("comparisons", "demonstrations", "prompts", "reviews")
                for split in ("train", "validation")]
    # no temporary files left behind
    assert names == ["RS_sample.ndjson.zst", "ground_truth.json", *instruct, *tasks, "texts/heldout.txt"]


def test_another_config_rewrites_the_files(tmp_path):
    first = build_sample(tmp_path, TINY)
    dump = first.dump.read_bytes()
    second = build_sample(tmp_path, SampleConfig(articles=9, slow_pages=False))
    assert second.written and second.dump.read_bytes() != dump and second.pages == first.pages + 1


def test_ground_truth_file_matches_the_function(tmp_path):
    built = build_sample(tmp_path, TINY)
    truth = json.loads(built.ground_truth.read_text())
    assert truth == ground_truth(build_site(TINY))
    assert len(truth["pages"]) == built.pages and len(truth["lines"]) == built.dump_lines
    for page in truth["pages"]:
        assert set(page["expected"]) == {"source", "crawl", "extract"}
        assert page["expected"]["crawl"] == "filtered" or page["expected"]["source"] == "pending"
        # Only an archived page becomes a document.
        assert (page["expected"]["extract"] == "none") == (page["expected"]["crawl"] != "ok")
    urls = {row["url"]: row["expected"] for row in truth["urls"]}
    assert all(urls[p["url"]] == p["expected"] for p in truth["pages"])
    imgur = {"source": "filtered:blocked_domain", "crawl": "filtered"}
    assert urls["https://i.imgur.com/abc.jpg"] == imgur
