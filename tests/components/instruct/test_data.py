"""Demonstration and comparison readers: every accepted format, malformed records named by file and
line, and a mostly malformed file refused whole."""

from __future__ import annotations

import gzip
import json

import pytest

from webtext.components.errors import InputError
from webtext.components.instruct.chat import Turn, render
from webtext.components.instruct.data import parse_hh, read_comparisons, read_demonstrations


def jsonl(path, *rows) -> str:
    """Write rows (objects as JSON, strings as they are) one a line; the file's path as text."""
    lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return str(path)


HH_CHOSEN = "\n\nHuman: Hi there\n\nAssistant: Hello! \n\nHuman: What is 2+2?\n\nAssistant: 4"
HH_REJECTED = "\n\nHuman: Hi there\n\nAssistant: Hello! \n\nHuman: What is 2+2?\n\nAssistant: Five, maybe."
SHARED = (Turn("user", "Hi there"), Turn("assistant", "Hello! "), Turn("user", "What is 2+2?"))


def test_hh_text_parses_to_turns_and_renders_back():
    text = "Be kind.\n\nHuman: Hi\n\nAssistant:  two spaces\n\nHuman:no space"
    turns = parse_hh(text)
    assert turns == [Turn("system", "Be kind."), Turn("user", "Hi"), Turn("assistant", " two spaces"),
                     Turn("user", "no space")]
    assert render(parse_hh(HH_CHOSEN)).replace("<|endoftext|>", "") == HH_CHOSEN  # each answer ends in one


def test_every_demonstration_format(tmp_path):
    path = jsonl(
        tmp_path / "demos.jsonl",
        {"prompt": "Name a colour.", "response": "Red."},
        {"prompt": "Count.", "completion": "1 2 3"},
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                      {"role": "assistant", "content": "Hello."}]},
        {"text": HH_CHOSEN},
        {"chosen": HH_CHOSEN, "rejected": HH_REJECTED},
        {"prompt": "\n\nHuman: Hi there\n\nAssistant:", "response": " Hello."},
        {"instruction": "Add.", "instances": [{"input": "2, 3", "output": "5"}, {"input": "", "output": "0"}],
         "is_classification": False},
        {"instruction": "Negate.", "input": "yes", "output": "no"},
    )
    read = read_demonstrations(path)
    assert read.skipped == []
    assert [c.turns for c in read.records] == [
        (Turn("user", "Name a colour."), Turn("assistant", "Red.")),
        (Turn("user", "Count."), Turn("assistant", "1 2 3")),
        (Turn("system", "Be brief."), Turn("user", "Hi"), Turn("assistant", "Hello.")),
        (*SHARED, Turn("assistant", "4")),
        (*SHARED, Turn("assistant", "4")),
        (Turn("user", "Hi there"), Turn("assistant", "Hello.")),
        (Turn("user", "Add.\n\n2, 3"), Turn("assistant", "5")),
        (Turn("user", "Add."), Turn("assistant", "0")),
        (Turn("user", "Negate.\n\nyes"), Turn("assistant", "no")),
    ]
    assert [c.where for c in read.records][-3:] == [f"{path}:7", f"{path}:7", f"{path}:8"]


def test_every_comparison_format(tmp_path):
    path = jsonl(
        tmp_path / "pairs.jsonl.gz",
        {"prompt": "Name a colour.", "chosen": "Red.", "rejected": "Seven."},
        {"chosen": HH_CHOSEN, "rejected": HH_REJECTED},
        {"prompt": "\n\nHuman: Hi\n\nAssistant:", "chosen": " Hello.", "rejected": " Go away."},
        {"prompt": [{"role": "user", "content": "Rank."}], "answers": ["best", "middle", "worst"]},
    )
    read = read_comparisons(path)
    assert read.skipped == []
    assert [(c.prompt, c.answers) for c in read.records] == [
        ((Turn("user", "Name a colour."),), ("Red.", "Seven.")),
        (SHARED, ("4", "Five, maybe.")),
        ((Turn("user", "Hi"),), ("Hello.", "Go away.")),
        ((Turn("user", "Rank."),), ("best", "middle", "worst")),
    ]


def test_parquet_rows_are_read_and_numbered(tmp_path):
    pa, pq = pytest.importorskip("pyarrow"), pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "demos.parquet"
    pq.write_table(pa.Table.from_pylist([{"prompt": "Hi", "response": "Hello."},
                                         {"prompt": "Bye", "response": None},
                                         {"prompt": "Yes?", "response": "Yes."}]), path)
    read = read_demonstrations(path)
    assert [c.turns[-1].content for c in read.records] == ["Hello.", "Yes."]
    assert [str(s) for s in read.skipped] == [f"{path}:2: 'response' is NoneType, not text"]


def test_an_hh_pair_whose_prompts_differ_is_refused(tmp_path):
    other = HH_REJECTED.replace("2+2", "3+3")
    path = jsonl(tmp_path / "pairs.jsonl", {"chosen": HH_CHOSEN, "rejected": HH_REJECTED},
                 {"chosen": HH_CHOSEN, "rejected": other})
    read = read_comparisons(path)
    assert len(read.records) == 1
    assert [str(s) for s in read.skipped] == [
        f"{path}:2: chosen and rejected differ before their last answer"]


def test_malformed_records_are_skipped_and_named_by_line(tmp_path):
    path = jsonl(
        tmp_path / "demos.jsonl",
        {"prompt": "Hi", "response": "Hello."},
        "{not json",
        "",  # blank: not a record
        {"prompt": "Hi"},
        {"prompt": "Hi", "response": "   "},
        {"text": "Human: no leading blank line\n\nAssistant: so no user turn"},
        {"messages": [{"role": "user", "content": "Hi"}]},
        [1, 2],
        {"prompt": "A", "response": "B"}, {"prompt": "C", "response": "D"}, {"prompt": "E", "response": "F"},
        {"prompt": "G", "response": "H"}, {"prompt": "I", "response": "J"},
    )
    read = read_demonstrations(path)
    assert len(read.records) == 6
    assert [(s.where, s.why.split(" (")[0]) for s in read.skipped] == [
        (f"{path}:2", "not JSON"),
        (f"{path}:4", "no 'response'"),
        (f"{path}:5", "'response' is empty"),
        (f"{path}:6", "no user"),
        (f"{path}:7", "the last turn is not an assistant answer"),
        (f"{path}:8", "a JSON list, not an object"),
    ]


def test_bad_comparisons_are_named(tmp_path):
    path = jsonl(
        tmp_path / "pairs.jsonl",
        {"prompt": "Hi", "chosen": "Hello.", "rejected": "Hello."},
        {"prompt": "Hi", "answers": ["only one"]},
        {"prompt": "Hi", "chosen": "", "rejected": "x"},
        {"chosen": "\n\nHuman: Hi", "rejected": "\n\nHuman: Hi"},
        {"prompt": "Hi", "chosen": "a", "rejected": "b"}, {"prompt": "Hi", "chosen": "c", "rejected": "d"},
        {"prompt": "Hi", "chosen": "e", "rejected": "f"}, {"prompt": "Hi", "chosen": "g", "rejected": "h"},
    )
    read = read_comparisons(path)
    assert len(read.records) == 4
    assert [s.why for s in read.skipped] == [
        "the same answer is ranked twice", "'answers' is not a list of two or more texts",
        "'chosen' is empty", 'a dialogue has no "\\n\\nAssistant:" turn']


def test_a_mostly_malformed_file_is_refused_naming_it_and_its_first_bad_lines(tmp_path):
    path = jsonl(tmp_path / "bad.jsonl", {"prompt": "Hi", "response": "Hello."}, {"question": "Hi"}, "oops")
    with pytest.raises(InputError) as error:
        read_demonstrations(path)
    message = str(error.value)
    assert message.startswith(f"{path}: 2 of 3 records are malformed (more than 50%)")
    assert f"{path}:2: not a demonstration" in message and f"{path}:3: not JSON" in message
    assert len(read_demonstrations(path, max_malformed=0.7).records) == 1


@pytest.mark.parametrize("name, content, why", [
    ("missing.jsonl", None, "no such file"), ("empty.jsonl", "\n", "no records"),
    ("table.csv", "a,b\n", "not one of"), ("cut.jsonl.gz", "\x1f\x8b\x08", "cannot be read"),
])
def test_unreadable_files_are_errors_naming_them(tmp_path, name, content, why):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content.encode("latin-1"))
    with pytest.raises(InputError, match=why) as error:
        read_comparisons(path)
    assert str(path) in str(error.value)
