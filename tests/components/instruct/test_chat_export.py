"""A model trained on conversations exports with the chat format's template, so transformers prompts it
with the ids it was trained on; a reward model exports as a one-label sequence classifier that scores
conversations as ours does."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from tests.components.instruct.tokenizer import train_tokenizer
from webtext.components.evaluate.registry import export_transformers
from webtext.components.files import sha256_file
from webtext.components.instruct.chat import CHAT_TEMPLATE, Turn, encode_chat
from webtext.components.instruct.checkpoint import chat_config, reward_config
from webtext.components.instruct.reward import RewardModel, score
from webtext.components.model.gpt import GPT, GPTConfig
from webtext.components.records import CONFIG, WEIGHTS
from webtext.components.tokenize.bpe import tiktoken_encoding

transformers = pytest.importorskip("transformers")

EOT = 0
TURNS = (Turn("system", "Answer briefly."), Turn("user", "What is the capital of France? "),
         Turn("assistant", "Paris."), Turn("user", "thanks"))


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tokenizer")
    encode = train_tokenizer(directory)
    return directory, encode, tiktoken_encoding(directory / "tokenizer.json").n_vocab


def checkpoint(directory, tokenizer, model: torch.nn.Module, config: dict) -> dict:
    """A version directory as the registry keeps one: weights, config, tokenizer and card; its lineage."""
    from safetensors.torch import save_model

    source, _, _ = tokenizer
    directory.mkdir()
    save_model(model, str(directory / WEIGHTS))
    (directory / CONFIG).write_text(json.dumps(config))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(source / name, directory / name)
    (directory / "README.md").write_text("# chat\n")
    sections = {key: config[key] for key in ("chat", "reward") if key in config}  # as the registry's lineage
    return {"name": "chat", "version": 1, "eot_id": EOT, "files": {WEIGHTS: sha256_file(directory / WEIGHTS)},
            **sections}


def tiny_gpt(vocab: int) -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=vocab, block_size=32, n_layer=1, n_head=2, n_embd=16, dropout=0.0)).eval()


@pytest.mark.parametrize("add_generation_prompt", [True, False])
def test_an_exported_chat_model_is_prompted_with_the_ids_it_was_trained_on(tmp_path, tokenizer,
                                                                           add_generation_prompt):
    _, encode, vocab = tokenizer
    gpt = tiny_gpt(vocab)
    lineage = checkpoint(tmp_path / "version", tokenizer, gpt, chat_config(gpt.config))
    out = tmp_path / "export"
    assert export_transformers(tmp_path / "version", out, lineage) == "GPT2LMHeadModel"
    assert json.loads((out / "tokenizer_config.json").read_text())["chat_template"] == CHAT_TEMPLATE
    turns = TURNS if add_generation_prompt else TURNS[:3]
    messages = [{"role": turn.role, "content": turn.content} for turn in turns]
    theirs = transformers.AutoTokenizer.from_pretrained(out).apply_chat_template(
        messages, tokenize=True, return_dict=True, add_generation_prompt=add_generation_prompt)["input_ids"]
    ids, _ = encode_chat(encode, EOT, turns, add_generation_prompt=add_generation_prompt)
    assert theirs == ids
    hf = transformers.AutoModelForCausalLM.from_pretrained(out).eval()
    with torch.no_grad():
        torch.testing.assert_close(hf(torch.tensor([ids])).logits, gpt(torch.tensor([ids]))[0], atol=1e-5,
                                   rtol=0)


def test_a_pretrained_model_exports_without_a_chat_template(tmp_path, tokenizer):
    gpt = tiny_gpt(tokenizer[2])
    lineage = checkpoint(tmp_path / "version", tokenizer, gpt, gpt.config.to_dict())
    export_transformers(tmp_path / "version", tmp_path / "export", lineage)
    assert "chat_template" not in json.loads((tmp_path / "export" / "tokenizer_config.json").read_text())


def test_an_exported_reward_model_scores_padded_conversations_as_ours(tmp_path, tokenizer):
    _, encode, vocab = tokenizer
    model = RewardModel(tiny_gpt(vocab)).eval()
    with torch.no_grad():  # a bias and an offset that the export must fold in
        model.head.bias.fill_(0.3)
        model.offset.fill_(-0.2)
    config = reward_config(model.gpt.config, "demonstrations")
    lineage = checkpoint(tmp_path / "version", tokenizer, model, config)
    out = tmp_path / "export"
    assert export_transformers(tmp_path / "version", out, lineage) == "GPT2ForSequenceClassification"
    conversations = [[Turn("user", "thanks"), Turn("assistant", "Paris.")],
                     [Turn("user", "What is the capital of France? "), Turn("assistant", "Paris."),
                      Turn("user", "thanks"), Turn("assistant", "bye")]]
    ours = score(model, [encode_chat(encode, EOT, turns)[0] for turns in conversations])
    hf = transformers.AutoModelForSequenceClassification.from_pretrained(out).eval()
    batch = transformers.AutoTokenizer.from_pretrained(out).apply_chat_template(
        [[{"role": t.role, "content": t.content} for t in turns] for turns in conversations], tokenize=True,
        return_dict=True, padding=True, return_tensors="pt")
    assert batch["input_ids"][0].tolist()[-1] != EOT  # the shorter one is padded, with another token
    with torch.no_grad():
        theirs = hf(**batch).logits.squeeze(-1)
    assert torch.allclose(theirs, ours, atol=1e-5), (theirs, ours)
