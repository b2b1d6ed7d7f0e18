"""Registry entries: written whole, verified by hash, exported to transformers with equal logits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_model

from webtext.components.errors import InputError
from webtext.components.evaluate.registry import (
    export_transformers,
    model_card,
    verify_version,
    write_version,
)
from webtext.components.model.gpt import GPT, GPTConfig
from webtext.components.tokenize.bpe import train, write_transformers_files

transformers = pytest.importorskip("transformers")  # a dev dependency; missing only outside `make test`

TEXT = ["The quick brown fox jumps over the lazy dog. " * 20,
        "Pack my box with five dozen liquor jugs. " * 20]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tokenizer") / "tokenizer.json"
    train(TEXT, path, vocab_size=300, min_frequency=1)
    write_transformers_files(path.parent)
    return path


# Matrices 10x their initial scale, as trained weights grow: then the two GELUs (tanh and exact) move
# the logits by ~1e-3, where at initial scale they differ by less than the 1e-5 the round trip allows.
SCALE = 10.0


def entry(tmp_path: Path, tokenizer: Path, **shape) -> tuple[Path, str, dict, GPT]:
    """A registered version of a random GPT of this shape, its matrices at trained scale."""
    torch.manual_seed(0)
    config = GPTConfig(**{**dict(vocab_size=300, block_size=32, n_layer=2, n_head=2, n_embd=32, dropout=0.0),
                          **shape})
    model = GPT(config).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() >= 2:
                parameter.mul_(SCALE)
    run = tmp_path / "run"
    run.mkdir(parents=True)
    save_model(model, str(run / "model.safetensors"))
    (run / "config.json").write_text(json.dumps(config.to_dict()))
    lineage = {"name": "m", "version": 1, "checkpoint_id": "c0ffee", "snapshot_id": "5a5a",
               "tokenizer_id": "70c", "code_version": "0.1.0", "step": 10, "model": config.to_dict(),
               "eot_id": 0, "contamination_ngram": 13,
               "metrics": {"texts": {"bpb": 1.25}, "lambada": {"acc": 0.5, "ppl": 9.0}}}
    directory = tmp_path / "registry" / "m" / "1"
    sha = write_version(directory, weights_dir=run, tokenizer_json=tokenizer, lineage=lineage)
    return directory, sha, lineage, model


def test_a_version_verifies_and_any_changed_file_is_named(tmp_path, tokenizer):
    directory, sha, _, _ = entry(tmp_path, tokenizer)
    lineage = verify_version(directory, sha)
    assert set(lineage["files"]) == {"model.safetensors", "config.json", "tokenizer.json",
                                     "tokenizer_config.json", "README.md"}
    (directory / "README.md").write_text((directory / "README.md").read_text() + "\nedited\n")
    with pytest.raises(InputError, match="README.md is missing or does not match"):
        verify_version(directory, sha)
    with pytest.raises(InputError, match="lineage.json does not match"):
        verify_version(directory, "0" * 64)


def test_the_model_card_carries_the_hugging_face_header(tmp_path, tokenizer):
    import yaml

    directory, _, lineage, _ = entry(tmp_path, tokenizer)
    card = (directory / "README.md").read_text()
    assert card == model_card(lineage)
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["datasets"] == ["webtext-snapshot-5a5a"]
    assert header["metrics"] == ["acc", "bpb", "ppl"]
    [index] = header["model-index"]
    assert {r["dataset"]["name"] for r in index["results"]} == {"texts", "lambada"}
    assert "| texts | bpb | 1.2500 |" in card


@pytest.mark.slow
@pytest.mark.parametrize("shape, architecture", [
    ({}, "GPT2LMHeadModel"), ({"gelu": "exact"}, "GPT2LMHeadModel"),
    ({"pre_ln": False}, "OpenAIGPTLMHeadModel")])
def test_export_round_trips_through_transformers(tmp_path, tokenizer, shape, architecture):
    directory, sha, _, ours = entry(tmp_path, tokenizer, **shape)
    other_gelu = GPT(GPTConfig(**{**ours.config.to_dict(), "gelu": {"tanh": "exact", "exact": "tanh"}[
        ours.config.gelu]})).eval()
    other_gelu.load_state_dict(ours.state_dict())
    out = tmp_path / "export"
    export_transformers(directory, out, verify_version(directory, sha))
    hf = transformers.AutoModelForCausalLM.from_pretrained(out).eval()
    assert type(hf).__name__ == architecture
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    from webtext.components.tokenize.bpe import encode_document, tiktoken_encoding

    text = "The lazy dog packs five jugs."
    ids = encode_document(tiktoken_encoding(tokenizer), text).tolist()
    assert hf_tokenizer.encode(text) == ids
    idx = torch.tensor([ids])
    with torch.no_grad():
        torch.testing.assert_close(hf(idx).logits, ours(idx)[0], atol=1e-5, rtol=0)
        assert (other_gelu(idx)[0] - ours(idx)[0]).abs().max() > 1e-4  # a wrong activation would fail


def test_a_gpt1_with_the_exact_gelu_is_refused_by_name(tmp_path, tokenizer):
    directory, sha, _, _ = entry(tmp_path, tokenizer, pre_ln=False, gelu="exact")
    with pytest.raises(InputError, match="exact GELU, which transformers' OpenAIGPTLMHeadModel cannot"):
        export_transformers(directory, tmp_path / "export", verify_version(directory, sha))
    assert not (tmp_path / "export").exists()


def test_export_refuses_what_transformers_cannot_express_and_writes_nothing(tmp_path, tokenizer):
    directory, sha, lineage, _ = entry(tmp_path, tokenizer, share_layers=True)
    out = tmp_path / "export"
    with pytest.raises(InputError, match="share_layers, which transformers' GPT2LMHeadModel"):
        export_transformers(directory, out, verify_version(directory, sha))
    assert not out.exists()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("x")
    plain, plain_sha, _, _ = entry(tmp_path / "plain", tokenizer)
    with pytest.raises(InputError, match="not an empty directory"):
        export_transformers(plain, tmp_path / "full", verify_version(plain, plain_sha))
