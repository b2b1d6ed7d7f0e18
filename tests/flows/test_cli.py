"""The `webtext` command as a user meets it: exit codes and one-line errors."""

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

from tests.dumps import submission, write_dump
from tests.flows.stages import CLI, cli_env, in_home, kill_when, run_cli
from webtext.flows.cli import main
from webtext.flows.exclusive import run_tag

HOLD = ("import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); "
        "print('held', flush=True); time.sleep(60)")


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("webtext: error:")]


@pytest.mark.parametrize("override, message", [
    ("source.min_scor=3", "unknown config key 'source.min_scor'"),
    ("source.min_score=many", "config key 'source.min_score': bad value 'many'"),
])
def test_config_errors_stop_before_any_work(home, capsys, override, message):
    assert main(["stage", "source", "--set", override]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"webtext: error: {message}") and "\n" not in err
    assert not home.root.exists()


def test_unknown_stage_is_named_before_any_work(home, capsys):
    assert main(["stage", "sauce", "--config", os.devnull]) == 1
    assert "unknown stage 'sauce'; stages: source" in capsys.readouterr().err
    assert not home.warehouse.exists()


def test_unwritable_home_is_one_line(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("WEBTEXT_HOME", str(blocker / "home"))
    monkeypatch.delenv("PREFECT_HOME", raising=False)
    assert main(["stage", "source", "--config", os.devnull, "--set", "source.dumps=[x.zst]"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("webtext: error:") and "\n" not in err


def test_busy_warehouse_fails_at_once_naming_the_holder(home, capsys, tmp_path):
    home.root.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(home.warehouse)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        dump = write_dump(tmp_path / "RS.zst", [submission("a")])
        assert main(["stage", "source", "--config", os.devnull, "--set", f"source.dumps=[{dump}]"]) == 1
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "busy" in err[0] and f"process {holder.pid}" in err[0]


@pytest.mark.parametrize("case", ["missing", "truncated", "random"])
def test_bad_dump_gives_one_line_naming_it_and_no_rows(home, tmp_path, capfd, case):
    dump = tmp_path / f"RS_{case}.zst"
    if case != "missing":
        write_dump(dump, [submission(str(i)) for i in range(300)])
        data = dump.read_bytes()
        dump.write_bytes(data[: len(data) // 2] if case == "truncated" else os.urandom(len(data)))
    assert main(["stage", "source", "--config", os.devnull, "--set", f"source.dumps=[{dump}]"]) == 1
    stderr = capfd.readouterr().err  # everything written to the process's stderr, loggers included
    errors = error_lines(stderr)
    assert len(errors) == 1 and dump.name in errors[0], stderr
    assert "Traceback" not in stderr
    if home.warehouse.exists():
        with duckdb.connect(str(home.warehouse), read_only=True) as con:
            assert con.execute("SELECT count(*) FROM submissions").fetchone() == (0,)
            assert con.execute("SELECT count(*) FROM urls").fetchone() == (0,)


def table_rows(warehouse_path: Path) -> dict[str, list]:
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        return {
            "submissions": con.execute("SELECT * FROM submissions ORDER BY id").fetchall(),
            "urls": con.execute("SELECT url, host, status, error FROM urls ORDER BY url").fetchall(),
            "loads": con.execute(
                "SELECT path, lines, malformed, selected FROM source_loads ORDER BY path").fetchall(),
        }


@pytest.mark.slow
def test_a_killed_source_run_resumes_and_ends_as_a_clean_run(tmp_path):
    records = [submission(str(i), f"http://h{i % 300}.example.com/{i % 20000}", score=i % 9)
               for i in range(60_000)]
    dump = write_dump(tmp_path / "RS_big.zst", records)
    options = ["stage", "source", "--config", os.devnull, "--set", f"source.dumps=[{dump}]",
               "--set", "source.batch_lines=4000", "--set", "source.workers=1"]

    killed_home = tmp_path / "killed"
    staging = killed_home / "staging" / "source"
    killed = kill_when([*CLI, *options], cli_env(killed_home),
                       lambda: bool(list(staging.glob("*/batch-000002.parquet"))), timeout=120)
    staged_before = {p.name for p in staging.glob("*/batch-*.parquet")}
    assert "batch-000002.parquet" in staged_before and "batch-000014.parquet" not in staged_before

    resumed = run_cli(killed_home, *options)
    assert resumed.returncode == 0, resumed.stderr
    with get_client(sync_client=True) as client:  # the killed process's runs, marked at this start
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[run_tag(killed)])))
    assert runs and {run.state.name for run in runs} == {"Crashed"}
    with in_home(tmp_path / "clean"):  # the uninterrupted run: in this process, the same code
        assert main(options) == 0
    assert table_rows(killed_home / "warehouse.duckdb") == table_rows(tmp_path / "clean" / "warehouse.duckdb")
