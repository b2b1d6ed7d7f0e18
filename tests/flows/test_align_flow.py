"""The align stage on the tiny sample (run once by the session's tiny pipeline): PPO from the chat model
against the reward model, scored against the chat model, registered with its lineage, and the `chat`
alias granted or refused by its gates."""

import json

import duckdb
import pytest

from tests.flows.stages import TINY, in_home, tiny
from webtext.components.errors import InputError
from webtext.components.evaluate.promotion import failed_gates
from webtext.flows.pipeline import STAGES
from webtext.flows.plan import plan
from webtext.warehouse import evaluate as evaluations

pytestmark = pytest.mark.slow

METRICS = {"reward", "win_rate", "kl", "rule", "answer_tokens", "lm_loss", "lm_loss_increase"}


def query(home, sql, params=()):
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute(sql, params).fetchall()


def checkpoint(home, kind: str) -> tuple[str, str, dict]:
    [(checkpoint_id, parent_id, config)] = query(
        home, "SELECT checkpoint_id, parent_id, config FROM checkpoints WHERE kind = ?", [kind])
    return checkpoint_id, parent_id, json.loads(config)


def scores(home, checkpoint_id: str) -> dict[str, tuple[float, str, int]]:
    return {metric: (value, data, n) for metric, value, data, n in query(
        home, "SELECT metric, value, data_sha256, n_examples FROM evaluations WHERE checkpoint_id = ? AND "
              "task = 'alignment'", [checkpoint_id])}


def test_ppo_aligns_the_chat_model_against_the_reward_model_and_scores_both(tiny_run):
    home = tiny_run.home
    chat_id, _, _ = checkpoint(home, "sft")
    judge_id, _, _ = checkpoint(home, "reward")
    aligned_id, parent_id, config = checkpoint(home, "align")
    assert parent_id == chat_id and config["reward_id"] == judge_id
    assert config["align"]["method"] == "ppo" and config["align"]["reward"] == "model"
    after, before = scores(home, aligned_id), scores(home, chat_id)
    assert set(after) == METRICS and set(before) == {"reward", "rule", "answer_tokens", "lm_loss"}
    assert {(data, n) for _, data, n in after.values()} == {(data, n) for _, data, n in before.values()}
    assert after["reward"][2] == 32  # the held-out prompts
    assert after["lm_loss_increase"][0] == pytest.approx(after["lm_loss"][0] - before["lm_loss"][0])
    assert 0 <= after["win_rate"][0] <= 1 and 0 <= after["rule"][0] <= 1 and after["kl"][0] > 0
    result = json.loads((home.runs / aligned_id / "result.json").read_text())
    assert result["step"] == 4 * 2 and result["n_train"] == 64  # 4 rollout batches of 2 updates
    summary = {r.stage: r.summary for r in tiny_run.results}["align"]
    assert f"checkpoint {aligned_id} from {chat_id}, step 8, 64 prompts" in summary
    answers = tiny_run.artifact("align-answers").data
    assert "| prompt | requires | before | reward | after | reward |" in answers
    assert answers.count("\n|") >= 2 + 5
    assert tiny_run.artifact("align-curve").data.count("data:image/svg+xml;base64,") == 4


def test_the_aligned_version_names_its_lineage_and_takes_chat_only_through_its_gates(tiny_run, cli_in,
                                                                                    tmp_path):
    home, run = tiny_run.home, cli_in(tiny_run.home)
    aligned_id, _, _ = checkpoint(home, "align")
    [(number, parent, parent_version)] = query(
        home, "SELECT version, parent_name, parent_version FROM model_versions WHERE name = "
              "'webtext-tiny-aligned'")
    assert (number, parent, parent_version) == (1, "webtext-tiny-sft", 1)
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        measured = evaluations.scores_by_key(con, aligned_id)
    failures = failed_gates(tiny().register.gates["chat"], measured, None)
    summary = {r.stage: r.summary for r in tiny_run.results}["register"]
    granted = query(home, "SELECT count(*) FROM model_aliases "
                          "WHERE name = 'webtext-tiny-aligned' AND alias = 'chat'")
    assert granted == [(0 if failures else 1,)]
    if failures:
        assert f"webtext-tiny-aligned:1 not promoted to chat: {failures[0]}" in summary
    else:
        assert "not promoted to chat" not in summary
    code, out, _ = run("models", "show", "webtext-tiny-aligned:1")
    assert code == 0 and "fine-tuned   from webtext-tiny-sft:1" in out
    assert "aligned      by ppo against reward model" in out
    assert "`webtext chat webtext-tiny-aligned:1`" in out
    copy = tiny_run.copy(tmp_path / "home")  # where no version holds `chat`, whatever the gates said
    with duckdb.connect(str(copy.warehouse)) as con:
        con.execute("DELETE FROM model_aliases WHERE alias = 'chat'")
    run = cli_in(copy)
    impossible = 'register.gates.chat=[{task: alignment, metric: kl, max: -1}]'
    code, _, err = run("models", "promote", "webtext-tiny-aligned:1", "chat", "--config", str(TINY), "--set",
                       impossible)
    assert code != 0 and "not promoted to chat: alignment kl" in err and "above the maximum -1" in err
    code, out, err = run("models", "promote", "webtext-tiny-aligned:1", "chat", "--config", str(TINY),
                         "--set", impossible, "--force")
    assert code == 0 and "webtext-tiny-aligned@chat" in out, err
    ask = ("chat", "webtext-tiny-aligned@chat", "--prompt", "What is the article about?",
           "--max-tokens", "8", "--seed", "3")
    code, out, err = run(*ask)
    assert code == 0 and out.endswith("\n") and run(*ask)[1] == out, err


def test_align_is_up_to_date_on_rerun_and_follows_a_new_reward_model(tiny_run, tmp_path):
    home = tiny_run.copy(tmp_path / "home")
    with in_home(home.root):
        assert STAGES["align"].flow(tiny()).up_to_date
        steps = {step.stage: step for step in plan(tiny("reward.learning_rate=0.004"), home)}
        ruled = {step.stage: step for step in plan(tiny("align.reward=rule"), home)}
    assert steps["reward"].action == "run" and steps["align"].action == "follows reward"
    assert ruled["align"].action == "run"  # another reward: another policy


def test_sentiment_control_follows_the_fine_tuned_classifier(tiny_run, tmp_path):
    """Ziegler et al.'s task on the sample: review openings continued, the registered sentiment model's
    log-odds of "1" as the reward, a classifier of another tokenizer's line or a task it cannot read
    refused before training."""
    home = tiny_run.copy(tmp_path / "home")
    reviews = "${WEBTEXT_HOME}/sample/instruct/reviews"
    sentiment = ("align.reward=classifier", "align.classifier=webtext-tiny-sentiment", "align.label='1'",
                 f"align.data={{files: {{train: ['{reviews}/train.jsonl'], "  # one rollout batch
                 f"validation: ['{reviews}/validation.jsonl']}}, max_train_examples: 16}}")
    with in_home(home.root):
        result = STAGES["align"].flow(tiny(*sentiment))
        with pytest.raises(InputError, match="task 'inference' \\(entailment\\) does not classify one text"):
            STAGES["align"].flow(tiny(*sentiment, "align.classifier=webtext-tiny-inference"))
    [(classifier_id,)] = query(home, "SELECT checkpoint_id FROM model_versions WHERE name = "
                                     "'webtext-tiny-sentiment'")
    [(aligned_id, config)] = query(home, "SELECT checkpoint_id, config FROM checkpoints WHERE kind = 'align' "
                                         "AND checkpoint_id != ?", [checkpoint(tiny_run.home, "align")[0]])
    config = json.loads(config)
    assert config["reward_id"] == classifier_id and config["align"]["label"] == "1"
    assert f"checkpoint {aligned_id} from" in result.summary and "step 2, 16 prompts" in result.summary
    after = scores(home, aligned_id)
    assert after["reward"][2] == 32 and "rule" not in after  # the reviews require no word
