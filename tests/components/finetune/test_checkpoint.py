"""A fine-tuned checkpoint's config.json loads: the backbone, the head, the task's labels and markers,
after its weights verify; a pretrained loader refuses it, and it refuses a pretrained checkpoint."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_model

from tests.components.finetune.checkpoints import LABELS, MARKERS, SHAPE, TASKS, write_finetuned
from webtext.components.errors import InputError
from webtext.components.finetune.checkpoint import load_finetuned
from webtext.components.finetune.formats import transform
from webtext.components.finetune.heads import collate
from webtext.components.model.checkpoint import load_model
from webtext.components.model.gpt import GPT, GPTConfig


@pytest.mark.parametrize("task_type", list(TASKS))
def test_a_fine_tuned_checkpoint_loads_with_its_task_labels_and_markers(tmp_path, task_type):
    written, sha = write_finetuned(tmp_path, task_type)
    loaded = load_finetuned(tmp_path, sha)
    task = TASKS[task_type]
    assert (loaded.task.name, loaded.task.type, loaded.task.fields, loaded.task.regression) == \
        (task.name, task.type, task.fields, task.regression)
    assert loaded.task.labels == LABELS[task_type] and loaded.markers == MARKERS
    assert not loaded.model.training and loaded.model.task == task.type
    fields = [[10, 11], [12], [13, 14]][:len(task.fields)]
    batch = collate([(transform(task.type, fields, MARKERS, 32), 0)])
    with torch.no_grad():
        torch.testing.assert_close(loaded.model.scores(batch), written.scores(batch), atol=0, rtol=0)


def test_each_loader_refuses_the_other_kind_and_a_changed_file(tmp_path):
    _, sha = write_finetuned(tmp_path / "tuned", "classification")
    with pytest.raises(InputError, match="is fine-tuned \\(classification\\).*`webtext predict` runs it"):
        load_model(tmp_path / "tuned", sha)
    pretrained = tmp_path / "pretrained"
    pretrained.mkdir()
    config = GPTConfig(**SHAPE)
    save_model(GPT(config), str(pretrained / "model.safetensors"))
    (pretrained / "config.json").write_text(json.dumps(config.to_dict()))
    from webtext.components.files import sha256_file

    with pytest.raises(InputError, match="is not fine-tuned: its config.json names no task"):
        load_finetuned(pretrained, sha256_file(pretrained / "model.safetensors"))
    with pytest.raises(InputError, match="model.safetensors is missing or does not match"):
        load_finetuned(tmp_path / "tuned", "0" * 64)


def test_a_config_json_of_another_form_is_named(tmp_path):
    _, sha = write_finetuned(tmp_path, "classification")
    config = json.loads((tmp_path / "config.json").read_text())
    without_markers = {**config, "task": {k: v for k, v in config["task"].items() if k != "markers"}}
    (tmp_path / "config.json").write_text(json.dumps(without_markers))
    with pytest.raises(InputError, match="not one this version of webtext reads \\(fine-tune it again\\)"):
        load_finetuned(tmp_path, sha)
    older = {**config, "task": "classification", "labels": ["0", "1"]}  # as runs wrote before
    (tmp_path / "config.json").write_text(json.dumps(older))
    with pytest.raises(InputError, match="config.json cannot be read"):
        load_finetuned(tmp_path, sha)
