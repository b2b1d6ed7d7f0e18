"""The evaluate and register stages on the tiny sample: scores, contamination, versions, gates,
the `webtext models` commands and the export to transformers."""

import json

import duckdb
import pytest
from prefect.client.orchestration import get_client

from tests.flows.stages import TINY, in_home, run_until, tiny
from webtext.components.extract.snapshot import DATA_FILE
from webtext.components.home import Home
from webtext.flows.evaluate import evaluate
from webtext.flows.pipeline import STAGES
from webtext.flows.register import register

pytestmark = pytest.mark.slow

# no checkpoints trained from it
NO_TRAINED = ["finetune.tasks=[]", "sft.data=null", "reward.data=null", "align.data=null"]
STRICTER = "extract.filters.min_words=120"  # the extract threshold the last tests change
PLANTED = ("{name: planted, type: last_word, max_examples: 4, "
           "files: {test: '${WEBTEXT_HOME}/planted.jsonl'}}")


def query(home, sql, params=()):
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(sql, params).fetchall()


def scores(home, checkpoint_id):
    rows = query(home, "SELECT task, metric, value, n_examples FROM evaluations WHERE checkpoint_id = ?",
                 [checkpoint_id])
    return {(task, metric): (value, n) for task, metric, value, n in rows}


def with_planted_task(home: Home) -> list[str]:
    """Overrides adding a task of four passages, two of them copied from the training snapshot."""
    import pyarrow.parquet as pq

    [(path,)] = query(home, "SELECT path FROM snapshots")
    texts = pq.read_table(home.snapshots / path / DATA_FILE, columns=["text"]).column(0).to_pylist()
    fresh = ["Seven quiet herons counted the pebbles beside a violet canal while lanterns drifted north",
             "Marble owls rarely argue about turnips when the orchestra tunes its brass on a windy pier"]
    passages = (texts[0], fresh[0], texts[1], fresh[1])
    lines = [json.dumps({"text": " ".join(text.split()[:40])}) for text in passages]
    (home.root / "planted.jsonl").write_text("\n".join(lines) + "\n")
    tasks = tiny().evaluate.model_dump(mode="json")["tasks"]
    return [*NO_TRAINED, f"evaluate.tasks={json.dumps(tasks)[:-1]}, {PLANTED}]"]


@pytest.fixture(scope="module")
def registered(tiny_run, tmp_path_factory):
    """The shared tiny run's home as it stood after pretrain, copied, with a task planted from the
    corpus; evaluate and register there, then both stages again. The tests below change this home."""
    home = tiny_run.copy(tmp_path_factory.mktemp("registered"), after="pretrain")
    overrides = with_planted_task(home)
    with in_home(home.root):
        results = [stage(tiny(*overrides)) for stage in (evaluate, register)]
        reruns = [stage(tiny(*overrides)) for stage in (evaluate, register)]
    return home, results, reruns, overrides


@pytest.fixture
def cli(registered, cli_in):
    """`webtext ...` in this process, in the module's home: (exit code, stdout, stderr)."""
    return cli_in(registered[0])


def test_every_score_is_recorded_and_a_rerun_is_up_to_date(registered):
    home, results, reruns, _ = registered
    assert list(STAGES)[-3:] == ["evaluate", "register", "report"]
    assert not any(r.up_to_date for r in results) and all(r.up_to_date for r in reruns)
    [(checkpoint_id,)] = query(home, "SELECT checkpoint_id FROM checkpoints WHERE kind = 'pretrain'")
    found = scores(home, checkpoint_id)
    tasks = ("lastword-0shot", "lastword-3shot", "cloze", "planted")
    metrics = {t: ("acc", "acc_token", "acc_norm") if t == "cloze" else ("acc", "ppl") for t in tasks}
    expected = {("validation", "bpb"), ("texts", "bpb"), ("texts/heldout.txt", "bpb"),
                *((t, m) for t in tasks for m in (*metrics[t], "chance", "contamination")),
                *((f"{t}/clean", m) for t in tasks for m in metrics[t]),
                ("texts", "contamination"), ("texts/heldout.txt", "contamination")}
    assert set(found) == expected
    assert found[("lastword-0shot", "acc")][1] == found[("lastword-3shot", "acc")][1] == 16
    assert found[("cloze", "acc")][1] == 32
    assert found[("cloze", "chance")] == (pytest.approx(1 / 4), 32)
    assert 0 < found[("lastword-0shot", "chance")][0] < 1e-3  # a uniform guess over the vocabulary
    for metric in ("acc", "ppl"):  # no example is contaminated: the clean subset is the whole set
        assert found[("lastword-0shot/clean", metric)] == found[("lastword-0shot", metric)]
    assert found[("planted/clean", "acc")][1] == 2  # the two passages not copied from the snapshot
    assert 0 < found[("texts", "bpb")][0] < 8
    assert found[("texts", "bpb")] == found[("texts/heldout.txt", "bpb")]  # one file: the total is its own
    assert found[("lastword-0shot", "ppl")][0] > 1


def test_contamination_finds_the_planted_task_and_not_the_clean_ones(registered):
    home = registered[0]
    rows = dict(query(home, "SELECT task, value FROM evaluations WHERE metric = 'contamination'"))
    assert rows["planted"] == 0.5
    assert rows["lastword-0shot"] == rows["lastword-3shot"] == rows["cloze"] == rows["texts"] == 0.0


def test_the_report_artifact_shows_scores_contamination_and_generations(registered):
    with get_client(sync_client=True) as client:
        artifacts = {a.key: a for a in client.read_latest_artifacts()}
    report = artifacts["eval-webtext-tiny"].data
    assert "| texts | bpb |" in report and "| planted | 50.0% | 4 |" in report
    assert "## Sample generations" in report and "> The" in report
    assert "registry/webtext-tiny/1" in artifacts["registry-webtext-tiny"].data  # a link to the entry


def test_the_first_version_becomes_champion_and_shows_its_lineage(registered, cli):
    home = registered[0]
    [(checkpoint_id, snapshot_id, tokenizer_id)] = query(
        home, "SELECT checkpoint_id, snapshot_id, tokenizer_id FROM checkpoints")
    assert query(home, "SELECT name, version, checkpoint_id FROM model_versions") == \
        [("webtext-tiny", 1, checkpoint_id)]
    assert query(home, "SELECT alias, version FROM model_aliases") == [("champion", 1)]
    code, out, _ = cli("models", "show", "webtext-tiny@champion")
    assert code == 0
    assert out.startswith("webtext-tiny:1  (aliases: champion;")
    for fact in (checkpoint_id, snapshot_id, tokenizer_id, "files verified", "texts", "bpb"):
        assert fact in out
    lineage = json.loads((home.registry / "webtext-tiny" / "1" / "lineage.json").read_text())
    assert lineage["metrics"]["planted"]["contamination"] == 0.5
    assert cli("models", "show", "webtext-tiny")[1] == out == cli("models", "show", checkpoint_id[:8])[1]
    code, _, err = cli("models", "show", "webtext-tiny@staging")
    assert code == 1 and "no version of model 'webtext-tiny' has alias 'staging'" in err


def test_a_worse_version_is_refused_by_its_gate_until_forced(registered, cli):
    home, _, _, overrides = registered
    shorter = [*overrides, "pretrain.max_steps=3"]  # a new checkpoint, barely trained
    with in_home(home.root):
        run_until("pretrain", tiny(*shorter))
        evaluate(tiny(*shorter))
        result = register(tiny(*shorter))
    assert "webtext-tiny:2" in result.summary and "not promoted to champion: texts bpb" in result.summary
    assert query(home, "SELECT version FROM model_aliases WHERE alias = 'champion'") == [(1,)]
    code, out, _ = cli("models", "list")
    assert code == 0 and "webtext-tiny:1" in out and "webtext-tiny:2" in out

    code, _, err = cli("models", "promote", "webtext-tiny:2", "champion", "--config", str(TINY))
    assert code == 1 and "not promoted to champion: texts bpb" in err and "of webtext-tiny:1" in err
    code, out, _ = cli("models", "promote", "webtext-tiny:2", "champion", "--config", str(TINY), "--force")
    assert code == 0 and "webtext-tiny@champion" in out
    assert query(home, "SELECT version FROM model_aliases WHERE alias = 'champion'") == [(2,)]
    history = query(home, "SELECT accepted, reason FROM model_promotions WHERE version = 2 "
                          "ORDER BY created_at")
    assert [accepted for accepted, _ in history] == [False, False, True]
    assert history[-1][1].startswith("forced past: texts bpb")
    assert cli("models", "promote", "webtext-tiny:1", "champion", "--config", str(TINY))[0] == 0  # better


def test_gates_compare_like_with_like_and_refuse_contaminated_sets(registered, cli):
    """Version 2, evaluated again with one more text file, against version 1, the champion."""
    home, _, _, overrides = registered
    (home.root / "more.txt").write_text("A second held-out text, one paragraph long, about nothing much.\n")
    more_texts = 'evaluate.texts=["${WEBTEXT_HOME}/sample/texts/*.txt", "${WEBTEXT_HOME}/more.txt"]'
    with in_home(home.root):
        evaluate(tiny(*overrides, "pretrain.max_steps=3", more_texts))  # version 2's checkpoint
    gates = "register.gates={champion: [{task: texts, metric: bpb, beat_current: true}, " \
            "{task: planted, metric: acc, max_contamination: 0.25}]}"
    code, _, err = cli("models", "promote", "webtext-tiny:2", "champion", "--config", str(TINY),
                       f"--set={gates}")
    assert code == 1
    assert "texts bpb: cannot compare with webtext-tiny:1, whose score was measured on other data" in err
    assert "planted: 50.0% of its 4 examples share n-grams with the training snapshot" in err
    assert query(home, "SELECT version FROM model_aliases WHERE alias = 'champion'") == [(1,)]


def test_export_loads_in_transformers_and_generate_takes_a_model_ref(registered, cli, tmp_path):
    transformers = pytest.importorskip("transformers")
    import torch

    out = tmp_path / "hf"
    code, printed, _ = cli("models", "export", "webtext-tiny:1", "--out", str(out))
    assert code == 0 and "as GPT2LMHeadModel" in printed and "lm_eval --model hf" in printed
    model = transformers.AutoModelForCausalLM.from_pretrained(out).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    from webtext.components.model.checkpoint import load_model

    home = registered[0]
    lineage = json.loads((home.registry / "webtext-tiny" / "1" / "lineage.json").read_text())
    ours = load_model(home.registry / "webtext-tiny" / "1", lineage["files"]["model.safetensors"])
    ids = torch.tensor([tokenizer.encode("The module reads a file.")])
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, ours(ids)[0], atol=1e-5, rtol=0)
    code, printed, _ = cli("generate", "webtext-tiny:1", "--prompt", "The", "--max-tokens", "5")
    assert code == 0 and printed.startswith("The")


def test_a_tampered_registry_file_is_named(registered, cli):
    home = registered[0]
    weights = home.registry / "webtext-tiny" / "1" / "model.safetensors"
    original = weights.read_bytes()
    try:
        weights.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
        code, _, err = cli("models", "show", "webtext-tiny:1")
        assert code == 1 and "model.safetensors is missing or does not match" in err
        assert cli("models", "export", "webtext-tiny:1", "--out", str(home.root / "x"))[0] == 1
        assert not (home.root / "x").exists()
    finally:
        weights.write_bytes(original)
    assert cli("models", "show", "webtext-tiny:1")[0] == 0


def test_a_changed_extract_threshold_reruns_extract_and_what_follows_only(registered, cli):
    """Last in this module: it moves the pipeline on to a new snapshot and a new version."""
    from webtext.flows.pipeline import pipeline

    home, _, _, overrides = registered
    changed = [*overrides, STRICTER]
    code, out, _ = cli("run", "--config", str(TINY), "--plan", *(f"--set={o}" for o in changed))
    lines = dict(line.split(None, 1) for line in out.splitlines())
    assert code == 0 and lines["source"] == "up to date" and lines["crawl"] == "up to date"
    assert lines["extract"].startswith("run") and "to judge under this filter config" in lines["extract"]
    assert lines["register"].startswith("follows extract")
    with in_home(home.root):
        results = {r.stage: r for r in pipeline(tiny(*changed))}
    assert results["source"].up_to_date and results["crawl"].up_to_date
    assert not any(results[s].up_to_date for s in ("extract", "tokenize", "pretrain", "evaluate", "register"))
    code, out, _ = cli("run", "--config", str(TINY), "--plan", *(f"--set={o}" for o in changed))
    assert code == 0 and all(line.split(None, 1)[1] == "up to date" for line in out.splitlines())


def test_gc_removes_only_what_nothing_references(registered, cli):
    home = registered[0]
    orphans = [home.runs / "0123456789abcdef" / "model.safetensors",
               home.tokens / "fedcba9876543210" / "a.bin", home.snapshots / ".5a5a.partial" / "data.parquet"]
    for path in orphans:
        path.parent.mkdir(parents=True)
        path.write_bytes(b"x" * 1000)
    stray_warc = home.warc / "crawl-orphan.warc.gz"
    stray_warc.write_bytes(b"y" * 10)
    before = sorted(p for p in home.root.rglob("*") if p.is_file())

    code, out, _ = cli("gc", "--dry-run")
    assert code == 0 and "would free 3,000 bytes" in out and "(WARC files kept" in out
    assert sorted(p for p in home.root.rglob("*") if p.is_file()) == before
    code, out, _ = cli("gc")
    assert code == 0 and "gc: 3 unreferenced entries, freed 3,000 bytes" in out
    assert not any(path.parent.exists() for path in orphans) and stray_warc.exists()
    code, out, _ = cli("gc", "--warc")
    assert code == 0 and "removed warc/crawl-orphan.warc.gz" in out and "gc: 1 unreferenced" in out
    # Every other file is still there, and the registry still verifies.
    after = sorted(p for p in home.root.rglob("*") if p.is_file() and "prefect" not in p.parts)
    assert after == [p for p in before if p not in {*orphans, stray_warc} and "prefect" not in p.parts]
    assert cli("models", "show", "webtext-tiny:1")[0] == 0
