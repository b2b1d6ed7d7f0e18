"""The configuration reference: written from the schema, complete, and the same as docs/config.md."""

from pathlib import Path

from webtext.components.config import WebtextConfig
from webtext.components.config_reference import markdown

DOCS = Path(__file__).resolve().parents[2] / "docs" / "config.md"


def rows(text: str) -> dict[str, list[str]]:
    """Table rows of the reference by key: [type, default, description]."""
    found = {}
    for line in text.splitlines():
        if line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip("|").split(" | ")]
            found[cells[0].strip("`")] = cells[1:]
    return found


def test_docs_config_md_is_the_generated_reference():
    assert DOCS.read_text() == markdown(), (
        "docs/config.md differs from the schema in webtext.components.config; regenerate it with "
        "`webtext config --markdown > docs/config.md` (or `make docs`) and commit the result")


def test_every_key_of_every_section_has_a_row_with_its_description():
    table = rows(markdown())
    for name, section in WebtextConfig.model_fields.items():
        for key, field in section.annotation.model_fields.items():
            assert table[f"{name}.{key}"][2].startswith(field.description.replace("|", "\\|"))


def test_nested_sections_and_list_and_mapping_items_are_described():
    table = rows(markdown())
    assert table["extract.filters.c4.min_words_per_line"][:2] == ["`int`, >= 0", "`5`"]
    assert table["extract.filters"][:2] == ["section", "[its keys](#extractfilters-filterconfig)"]
    assert table["finetune.tasks[].fields"][1] == "required"
    assert table["finetune.tasks[].type"][0].startswith('`"classification" \\| "entailment"')
    assert table["evaluate.tasks[].shots"][1] == "`0`"
    assert table["register.gates.<key>[].beat_current"][1] == "`false`"
    assert table["serve.schedules.<key>.interval_s"][0] == "`int \\| None`, >= 60"
    assert "[`finetune.tasks[]`](#finetunetasks-taskconfig)" in table["finetune.tasks"][2]
    assert "### `finetune.tasks[]` (TaskConfig)" in markdown()


def test_defaults_are_yaml_values_and_the_same_on_every_machine():
    table = rows(markdown())
    assert table["source.min_score"][1] == "`3`"
    assert table["pretrain.model"][1] == '`"gpt2-small"`'
    assert table["register.name"][0] == "`str`, matching `^[A-Za-z0-9][A-Za-z0-9._-]*$`"
    for key in ("source.workers", "extract.workers", "tokenize.threads"):
        assert table[key][1] == "all CPU cores"
