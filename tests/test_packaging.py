"""The installed distribution is one import package, `webtext`, carrying its presets and migrations.

Built from a copy of the source tree (so the build leaves nothing in the checkout), with the
setuptools already installed: nothing is downloaded.
"""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    source = tmp_path_factory.mktemp("source") / "webtext"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".webtext", "__pycache__", "*.egg-info", "build", ".work", "tests"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    str(source), "-w", str(out)], check=True, capture_output=True)
    [built] = out.glob("webtext-*.whl")
    return zipfile.ZipFile(built)


def test_the_wheel_installs_one_top_level_package(wheel):
    tops = {name.split("/")[0] for name in wheel.namelist() if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"webtext"}
    names = set(wheel.namelist())
    for part in ("components", "flows", "warehouse", "configs"):
        assert f"webtext/{part}/__init__.py" in names


def test_the_wheel_carries_presets_migrations_and_sample_files(wheel):
    names = set(wheel.namelist())
    presets = {p.name for p in (ROOT / "configs").glob("*.yaml")}
    migrations = {p.name for p in (ROOT / "warehouse" / "migrations").glob("*.sql")}
    assert presets and {n.rsplit("/", 1)[1] for n in names if n.startswith("webtext/configs/")} >= presets
    assert {n.rsplit("/", 1)[1] for n in names if n.startswith("webtext/warehouse/migrations/")} == migrations
    assert "webtext/components/sample/foreign.txt" in names


def test_the_console_script_points_into_the_package(wheel):
    [entry_points] = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    assert "webtext = webtext.flows.cli:main" in wheel.read(entry_points).decode()
