"""A small byte-level BPE trained on dialogues in the chat format, exported for transformers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from webtext.components.tokenize.bpe import (
    encode_document,
    tiktoken_encoding,
    train,
    write_transformers_files,
)

DIALOGUES = [
    "\n\nHuman: What is the capital of France? \n\nAssistant: The capital of France is Paris.",
    "\n\nHuman: thanks \n\nAssistant: You are welcome! \n\nHuman: bye \n\nAssistant: Goodbye.",
    "Answer briefly.\n\nHuman: Grüße aus Köln 😀\n\nAssistant:  Hallo!\n\nHuman: again?\n\nAssistant: Yes.",
    "\n\nHuman: List three colours:\n- red\n- blue \n\nAssistant: - red\n- blue\n- green",
]


def train_tokenizer(directory: Path) -> Callable[[str], list[int]]:
    """Train on the dialogues (merging " \\n", the pre-token that joins a turn's trailing space to the
    next marker) into `directory`; its encoder of ordinary text."""
    train(iter(DIALOGUES * 4), directory / "tokenizer.json", vocab_size=400, min_frequency=2)
    write_transformers_files(directory)
    encoding = tiktoken_encoding(directory / "tokenizer.json")
    return lambda text: encode_document(encoding, text).tolist()
