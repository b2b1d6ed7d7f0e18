"""The sft and reward stages on the tiny sample (run once by the session's tiny pipeline), the chat and
reward models they register, and `webtext chat`, `webtext reward` and the export on those versions."""

import json

import duckdb
import pytest
import torch
from safetensors import safe_open

from tests.flows.stages import in_home, tiny
from webtext.components.config import AdapterConfig
from webtext.components.errors import InputError
from webtext.components.files import sha256_file
from webtext.components.finetune.checkpoint import load_finetuned
from webtext.components.finetune.run import finetune
from webtext.components.instruct.chat import Encoder, Turn, encode_chat
from webtext.components.instruct.checkpoint import load_reward
from webtext.components.instruct.data import read_demonstrations
from webtext.components.instruct.reward import answer_tokens, score
from webtext.components.model.checkpoint import load_model
from webtext.components.model.lora import ADAPTER, apply_lora, load_adapter
from webtext.components.train.job import JOB_FILE, FinetuneJob
from webtext.flows.pipeline import STAGES
from webtext.flows.plan import plan

pytestmark = pytest.mark.slow


def query(home, sql, params=()):
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(sql, params).fetchall()


def checkpoint(home, kind: str) -> tuple[str, str, dict]:
    [(checkpoint_id, parent_id, config)] = query(
        home, "SELECT checkpoint_id, parent_id, config FROM checkpoints WHERE kind = ?", [kind])
    return checkpoint_id, parent_id, json.loads(config)


def scores(home, checkpoint_id: str, task: str) -> dict[str, tuple[float, str, int]]:
    return {metric: (value, data, n) for metric, value, data, n in query(
        home, "SELECT metric, value, data_sha256, n_examples FROM evaluations WHERE checkpoint_id = ? AND "
              "task = ?", [checkpoint_id, task])}


def test_sft_fine_tunes_the_pretrained_checkpoint_and_lowers_its_response_loss(tiny_run):
    home = tiny_run.home
    [pretrained] = query(home, "SELECT checkpoint_id FROM checkpoints WHERE kind = 'pretrain'")
    chat_id, parent_id, config = checkpoint(home, "sft")
    assert parent_id == pretrained[0] and config["parent_id"] == parent_id
    train = home.sample / "instruct" / "demonstrations" / "train.jsonl"
    assert config["files"]["train"] == [{"path": str(train.resolve()), "sha256": sha256_file(train)}]
    summary = {r.stage: r.summary for r in tiny_run.results}["sft"]
    assert f"checkpoint {chat_id} from {parent_id}" in summary and "240 demonstrations" in summary
    after, before = scores(home, chat_id, "demonstrations"), scores(home, parent_id, "demonstrations")
    assert set(after) == set(before) == {"response_bpb", "response_loss"}
    assert after["response_bpb"][1:] == before["response_bpb"][1:] and after["response_bpb"][2] == 48
    assert after["response_bpb"][0] < before["response_bpb"][0] - 0.02  # measured on the same answers
    [(sha256,)] = query(home, "SELECT sha256 FROM checkpoints WHERE checkpoint_id = ?", [chat_id])
    model = load_model(home.runs / chat_id, sha256)
    assert json.loads((home.runs / chat_id / "config.json").read_text())["chat"]["format"] == "hh"
    assert model.config.block_size == 64


def test_the_reward_model_is_trained_from_the_chat_model_scored_and_normalised(tiny_run):
    home = tiny_run.home
    chat_id, _, _ = checkpoint(home, "sft")
    judge_id, parent_id, config = checkpoint(home, "reward")
    assert parent_id == chat_id and len(config["normalised_on_sha256"]) == 1
    held_out = scores(home, judge_id, "comparisons")
    # 2 x 64 after 30 steps of pretraining, 15 steps on 240 comparisons: its held-out accuracy is that
    # of a model this small (0.48 to 0.68 across runs); tests/components/instruct/test_run.py checks the
    # ranking a reward model learns on records it can learn
    assert set(held_out) == {"accuracy", "margin", "loss"} and held_out["accuracy"][2] == 48
    assert 0 <= held_out["accuracy"][0] <= 1 and held_out["loss"][0] > 0
    result = json.loads((home.runs / judge_id / "result.json").read_text())
    assert result["step"] == 15 and result["n_train"] == 240
    # the SFT training demonstrations average a reward of 0
    reward = load_reward(home.runs / judge_id, result["files"]["model.safetensors"])
    [(tokenizer,)] = query(home, "SELECT path FROM tokenizers")
    encode = Encoder(home.tokenizers / tokenizer / "tokenizer.json")
    demos = read_demonstrations(home.sample / "instruct" / "demonstrations" / "train.jsonl").records
    rewards = score(reward, [answer_tokens(encode, encode.eot, d.turns[:-1], d.turns[-1].content, 64)
                             for d in demos])
    assert abs(float(rewards.mean())) < 1e-5 < float(rewards.abs().max())


def test_chat_reward_and_export_use_the_registered_versions(tiny_run, cli_in, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    run = cli_in(tiny_run.home)
    ask = ("chat", "webtext-tiny-sft:1", "--prompt", "What is the article about?", "--max-tokens", "8")
    code, out, err = run(*ask, "--seed", "3")
    assert code == 0 and out.endswith("\n") and run(*ask, "--seed", "3")[1] == out, err  # seeded: repeatable
    code, out, _ = run("models", "show", "webtext-tiny-sft:1")
    assert "fine-tuned   from webtext-tiny:1" in out and "`webtext chat webtext-tiny-sft:1`" in out
    code, out, _ = run("models", "show", "webtext-tiny-reward")
    assert "fine-tuned   from webtext-tiny-sft:1" in out and "SFT demonstrations" in out
    code, _, err = run("chat", "webtext-tiny:1", "--prompt", "hello")
    assert code == 1 and "not trained on conversations" in err
    question = "Finish the sentence: The class body"
    answers = ["is executed in a new frame.", "is executed is executed is"]
    code, out, err = run("reward", "webtext-tiny-reward:1", "--prompt", question, "--answer", answers[0],
                         "--answer", answers[1])
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 2 and sum("(best)" in line for line in lines) == 1
    code, _, _ = run("models", "export", "webtext-tiny-sft:1", "--out", str(tmp_path / "chat"))
    assert code == 0
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "chat")
    messages = [{"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "Hello."}]
    encode = Encoder(tmp_path / "chat" / "tokenizer.json")
    ours, _ = encode_chat(encode, encode.eot, [Turn(**m) for m in messages])
    assert tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"] == ours
    code, _, err = run("models", "export", "webtext-tiny-reward:1", "--out", str(tmp_path / "judge"))
    assert code == 0, err
    judge = AutoModelForSequenceClassification.from_pretrained(tmp_path / "judge").eval()
    framed = AutoTokenizer.from_pretrained(tmp_path / "judge").apply_chat_template(
        [[{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
         for answer in answers], tokenize=True, return_dict=True, padding=True, return_tensors="pt")
    with torch.no_grad():
        exported = judge(**framed).logits.squeeze(-1).tolist()
    assert exported == pytest.approx([float(line.split()[0]) for line in lines], abs=1e-3)


def test_a_mostly_malformed_file_stops_the_stage_before_any_training(tiny_run, tmp_path):
    home = tiny_run.copy(tmp_path / "home", after="pretrain")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "Hi", "response": "Hello."}\nnot json\n{"prompt": "Hi"}\n[1, 2]\n')
    config = tiny(f"sft.data.files.train=[{bad}]")
    runs = set(home.runs.iterdir())
    malformed = rf"{bad}: 3 of 4 records are malformed.*first: {bad}:2: not JSON"
    with in_home(home.root), pytest.raises(InputError, match=malformed):
        STAGES["sft"].flow(config)
    assert set(home.runs.iterdir()) == runs
    assert query(home, "SELECT count(*) FROM checkpoints WHERE kind = 'sft'") == [(0,)]


def test_a_rerun_is_up_to_date_and_new_data_trains_anew(tiny_run, tmp_path):
    home = tiny_run.copy(tmp_path / "home")
    with in_home(home.root):
        assert all(STAGES[name].flow(tiny()).up_to_date for name in ("sft", "reward"))
        # the registered version of the same pretrained checkpoint: the same parent, the same run
        registered = {step.stage: step for step in plan(tiny("sft.init=webtext-tiny@champion"), home)}
        refused = {step.stage: step for step in plan(tiny("sft.init=webtext-tiny-story:1"), home)}
        demos = home.sample / "instruct" / "demonstrations" / "train.jsonl"
        demos.write_text("".join(demos.read_text().splitlines(keepends=True)[:-1]))  # one fewer
        steps = {step.stage: step for step in plan(tiny(), home)}
    assert steps["sft"].action == "run" and "is not trained from" in steps["sft"].reason
    assert steps["reward"].action == "follows sft"
    assert registered["sft"].action == registered["reward"].action == "up to date"
    assert refused["sft"].action == "blocked" and \
        "sft.init='webtext-tiny-story:1' is a finetune checkpoint; start from one of kind pretrain, sft" in \
        refused["sft"].reason


def test_lora_fine_tuning_saves_the_adapters_apart_and_merges_them_into_the_task_model(tiny_run, tmp_path):
    """The pipeline's sentiment job again, in this process, with LoRA adapters."""
    home = tiny_run.home
    [(path, parent_id)] = query(home, "SELECT path, parent_id FROM checkpoints WHERE kind = 'finetune' AND "
                                      "json_extract_string(config, '$.task.name') = 'sentiment' AND "
                                      "parent_id IS NOT NULL")
    [(parent_sha256,)] = query(home, "SELECT sha256 FROM checkpoints WHERE checkpoint_id = ?", [parent_id])
    job = FinetuneJob.read(home.runs / path / JOB_FILE)
    run = tmp_path / "lora"
    run.mkdir()
    lora = AdapterConfig(r=4, alpha=8, dropout=0.0)
    settings = job.finetune.model_copy(update={"adapter": lora, "epochs": 1})
    job = job.model_copy(update={"out": run, "cache_dir": tmp_path / "cache", "finetune": settings})
    with in_home(home.root):  # the task files are named under ${WEBTEXT_HOME}
        result = finetune(job).model_dump()
    assert result["trainable"] < result["parameters"] / 5
    with safe_open(run / ADAPTER, "pt") as f:
        assert f.metadata()["base_sha256"] == parent_sha256
        adapter = {key: f.get_tensor(key) for key in f.keys()}
    assert {"head.weight", "head.bias"} <= adapter.keys() and all(
        key.startswith("gpt.") for key in adapter if not key.startswith("head."))
    tuned = load_finetuned(run, result["files"]["model.safetensors"]).model
    adapted = apply_lora(load_model(home.runs / parent_id, parent_sha256), 4, 8)
    load_adapter(adapted, {key.removeprefix("gpt."): value for key, value in adapter.items()
                           if key.startswith("gpt.")})
    tokens = torch.randint(0, tuned.gpt.config.vocab_size, (2, 24))
    with torch.no_grad():
        assert torch.allclose(adapted.eval().hidden_states(tokens), tuned.gpt.hidden_states(tokens),
                              atol=1e-5)
    assert torch.equal(tuned.head.weight, adapter["head.weight"])
