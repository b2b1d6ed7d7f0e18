from pathlib import Path

import pytest

from webtext.components.config import WebtextConfig, load_config
from webtext.components.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_defaults_follow_webtext():
    config = load_config(None, [])
    assert config.source.min_score == 3
    assert config.source.drop_over_18
    assert "wikipedia.org" in config.source.blocked_domains
    assert config.crawl.allow == []


def test_overrides_take_yaml_values_and_repeat(tmp_path):
    preset = tmp_path / "p.yaml"
    preset.write_text("source:\n  min_score: 5\n  dumps: [a.zst]\n")
    config = load_config(preset, ["source.dumps=[b.zst, c.xz]", "source.min_score=7",
                                  "crawl.resolve={news.sample.test: '127.0.0.1:8080'}"])
    assert config.source.dumps == ["b.zst", "c.xz"]
    assert config.source.min_score == 7
    assert config.crawl.resolve == {"news.sample.test": "127.0.0.1:8080"}


@pytest.mark.parametrize("override, message", [
    ("source.min_scor=3", "unknown config key 'source.min_scor'"),
    ("pretrian.max_steps=3", "unknown config key 'pretrian'"),
    ("source.min_score=lots", "config key 'source.min_score': bad value 'lots'"),
    ("source.max_malformed_fraction=2", "config key 'source.max_malformed_fraction': bad value 2"),
    ("crawl.allow=[nonsense]", "'nonsense' is neither host:port nor a CIDR range"),
    ("crawl.resolve={a.test: 'example.com:80'}", "'example.com' is not an IP address"),
    ("source.min_score.deep=1", "config key 'source.min_score': bad value {'deep': 1}"),
    ("no_equals_sign", "expected dotted.key=value"),
])
def test_bad_keys_and_values_are_named(override, message):
    with pytest.raises(ConfigError) as caught:
        load_config(None, [override])
    assert message in str(caught.value)


def test_bad_preset_files_are_named(tmp_path):
    with pytest.raises(ConfigError, match="missing.yaml does not exist"):
        load_config(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("source: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken.yaml is not valid YAML \(line 2\)") as caught:
        load_config(broken)
    assert "\n" not in str(caught.value)
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path)


def test_every_field_is_described():
    def walk(model):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, WebtextConfig.__base__):
                walk(annotation)
    walk(WebtextConfig)


@pytest.mark.parametrize("name", ["sample.yaml", "tiny.yaml"])
def test_presets_validate(name):
    config = load_config(CONFIGS / name)
    assert config.sample.enabled
