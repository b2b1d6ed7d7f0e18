"""`webtext run` killed with SIGKILL at seeded points, then run again, ends as a clean run ends.

Document ids hash a page's WARC record, and WARC file names carry the crawl's start time, so ids (and
the snapshot, tokenizer and checkpoint ids built on them) differ between any two homes. The runs are
therefore compared on content: every submission, every URL's terminal status, every document's
verdict and text, the kept set, and, for the stages after extract, that each produced exactly one
verified output, with nothing duplicated and nothing half written.
"""

import hashlib
import random
import re
import subprocess
from pathlib import Path

import duckdb
import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import LogFilter, LogFilterTextSearch, LogFilterTimestamp

from tests.flows.stages import CLI, RUN_OPTIONS, cli_env, in_home, own_api_env, run_cli
from webtext.components.home import Home
from webtext.flows.cli import main
from webtext.flows.pipeline import STAGES

pytestmark = pytest.mark.slow

COMMAND = [*CLI, *RUN_OPTIONS]
SEED, KILLS = 20261130, 1
# What a console would be buried in: Lightning's tips and banners, library warnings, Prefect's chatter.
NOISE = re.compile(r"💡|Tip:|[GTHI]PU available|LOCAL_RANK|Trainable params|Automatic Mixed Precision|"
                   r"Warning:|is deprecated|weights_only|site-packages|temporary server|"
                   r"Task run .* Finished in state Completed")


def content(home: Path) -> dict[str, list]:
    """What a run leaves in the warehouse, without timestamps, run-specific names and ids."""
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        def rows(sql: str) -> list:
            return sorted(con.execute(sql).fetchall(), key=repr)

        texts = rows("SELECT d.url, d.kept, d.reason, d.text FROM documents d")
        return {
            "submissions": rows("SELECT id, url, score, subreddit, created_utc FROM submissions"),
            "urls": rows("SELECT url, status, http_status, error FROM urls"),
            "documents": [(url, kept, reason, hashlib.sha256((text or "").encode()).hexdigest())
                          for url, kept, reason, text in texts],
            "kept": rows("SELECT url FROM documents WHERE kept"),
            "snapshots": rows("SELECT n_documents, n_bytes FROM snapshots"),
            "outputs": rows(
                "SELECT (SELECT count(*) FROM tokenizers), (SELECT count(*) FROM token_sets), "
                "(SELECT count(*) FROM checkpoints), (SELECT count(*) FROM evaluation_runs), "
                "(SELECT count(*) FROM model_versions), (SELECT count(*) FROM model_aliases)"),
            # validation bpb counts tokens of the split, which is drawn by document id
            "scores": rows("SELECT task, metric, CASE WHEN task = 'validation' THEN NULL ELSE n_examples END "
                           "FROM evaluations"),
        }


@pytest.fixture(scope="module")
def homes(served_home, tmp_path_factory):
    """The served home's clean `webtext run` and its unchanged rerun there (through the home's running
    server, as a user's would go); then a home whose runs are killed at seeded points, then run to the
    end."""
    clean, first = served_home.home, served_home.run
    again = subprocess.run([*CLI, *RUN_OPTIONS], env=own_api_env(clean), capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    killed = tmp_path_factory.mktemp("killed")
    rng = random.Random(SEED)
    points = sorted(rng.uniform(0.15, 0.6) * served_home.seconds for _ in range(KILLS))
    kills = 0
    for after in points:  # each killed run starts where the one before it died
        child = subprocess.Popen(COMMAND, env=cli_env(killed), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        try:
            child.wait(timeout=after)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            kills += 1
    assert kills, f"every run finished before its kill point ({points})"
    with in_home(killed):  # run to the end: in this process, the same code as the command's
        assert main(RUN_OPTIONS) == 0
    return clean, killed, first.stdout + first.stderr, again.stdout, served_home


def test_a_run_prints_each_stage_and_where_results_are_and_a_rerun_is_up_to_date(homes):
    clean, _, first, again, _ = homes
    assert "source: " in first and "new URLs" in first and "register: webtext-tiny:1" in first
    assert f"warehouse {clean / 'warehouse.duckdb'}" in first
    assert (clean / "sample" / "RS_sample.ndjson.zst").exists()
    summaries = [line for line in again.splitlines() if line.split(":")[0] in STAGES]
    assert len(summaries) == len(STAGES) and all(": up to date" in line for line in summaries
                                                 if not line.startswith("finetune"))


def test_the_console_shows_stages_and_summaries_and_the_noise_goes_to_the_run_logs_only(homes):
    _, _, first, _, served = homes
    lines = first.splitlines()
    assert [line for line in lines if NOISE.search(line)] == []
    for stage in STAGES:
        assert any(line.startswith(f"{stage}: ") for line in lines), f"no {stage} summary in:\n{first}"
    assert any(line.startswith("results: warehouse ") for line in lines)
    # What the console leaves out is still in the runs' logs, on the server the run went through.
    with SyncPrefectClient(f"{served.url}/api") as client:
        banners = client.read_logs(LogFilter(text=LogFilterTextSearch(query='"GPU available"'),
                                             timestamp=LogFilterTimestamp(after_=served.began)))
    assert banners


def test_a_killed_and_rerun_pipeline_ends_with_the_clean_runs_content(homes):
    clean, killed, *_ = homes
    assert content(killed) == content(clean)


def test_nothing_is_half_written_after_the_kills(homes):
    killed = homes[1]
    home = Home(killed)
    from webtext.components.evaluate.registry import verify_version
    from webtext.components.files import sha256_file

    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        [(path, lineage_sha)] = con.execute("SELECT path, lineage_sha256 FROM model_versions").fetchall()
        [(run_path, weights_sha)] = con.execute("SELECT path, sha256 FROM checkpoints").fetchall()
        assert con.execute("SELECT count(*) FROM urls WHERE status = 'pending'").fetchone() == (0,)
    verify_version(home.registry / path, lineage_sha)
    assert sha256_file(home.runs / run_path / "model.safetensors") == weights_sha
    assert not (killed / "warehouse-slot.json").exists()
    # What a killed process was writing never took an output's name; gc clears that scratch.
    gc = run_cli(killed, "gc", timeout=120)
    assert gc.returncode == 0, gc.stderr
    scratch = [p for p in killed.rglob("*") if "prefect" not in p.parts
               and p.name.startswith(".") and p.name.endswith((".partial", ".tmp"))]
    assert not scratch
