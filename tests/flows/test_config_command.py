"""`webtext config`: the reference as Markdown, and the resolved configuration a run would use."""

import pytest
import yaml

from webtext import configs as presets
from webtext.components.config import load_config
from webtext.components.config_reference import markdown
from webtext.flows.cli import main


@pytest.mark.parametrize("argv", [["config"], ["config", "--markdown"]])
def test_config_prints_the_reference(home, capsys, argv):
    assert main(argv) == 0
    assert capsys.readouterr().out == markdown()


def test_config_show_prints_the_preset_with_the_overrides_applied(home, capsys):
    overrides = ["crawl.concurrency=7", "source.dumps=[/data/RS_2019-01.zst]"]
    assert main(["config", "show", "--config", "tiny", "--set", overrides[0], "--set", overrides[1]]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["crawl"]["concurrency"] == 7
    assert shown["source"]["dumps"] == ["/data/RS_2019-01.zst"]
    expected = load_config(presets.preset("tiny"), overrides)
    assert shown == expected.model_dump(mode="json")
    assert not home.root.exists()  # nothing is run, so nothing is written


@pytest.mark.parametrize("override, message", [
    ("crawl.concurency=7", "unknown config key 'crawl.concurency'"),
    ("crawl.concurrency=many", "config key 'crawl.concurrency': bad value 'many'"),
])
def test_config_show_names_a_bad_key_or_value_in_one_line(home, capsys, override, message):
    assert main(["config", "show", "--set", override]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"webtext: error: {message}") and captured.err.count("\n") == 1
