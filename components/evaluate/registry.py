"""A registered version's directory, and its export to the format transformers loads.

A version directory holds what anyone needs to use the checkpoint without the warehouse: the weights
and our `config.json`, the tokenizer, a model card and `lineage.json`: where it came from (snapshot,
tokenizer, config, code), its scores, and the sha256 of every other file. A fine-tuned version's
lineage also names its task (`task`: the task section of its config.json) and the version it was
fine-tuned from (`parent`). The warehouse keeps the sha256 of `lineage.json`, so a changed file is
caught whether it is the file or its recorded hash that was changed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

import yaml

from webtext.components.errors import InputError
from webtext.components.files import publish_directory, sha256_file
from webtext.components.records import CONFIG, WEIGHTS

LINEAGE, CARD = "lineage.json", "README.md"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def code_version() -> str:
    """The installed package version, and the commit of the source tree when it is a git checkout
    (`.dirty` when tracked files differ from it: the commit alone would not say what ran)."""
    try:
        version = metadata.version("webtext")
    except metadata.PackageNotFoundError:
        version = "unknown"
    git = ["git", "-C", str(Path(__file__).resolve().parents[2])]
    try:
        commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                                check=True).stdout.strip()
        changed = subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                                 text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return version
    return f"{version}+g{commit[:12]}{'.dirty' if changed else ''}"


def model_card(lineage: dict) -> str:
    """README.md with the Hugging Face metadata header (datasets, metrics, model-index). It has no
    `base_model`: the checkpoints registered are pretrained from scratch."""
    name, version = lineage["name"], lineage["version"]
    metrics = lineage["metrics"]
    results = [{"task": {"type": "text-generation"}, "dataset": {"name": task, "type": task},
                "metrics": [{"type": m, "value": round(v, 6)} for m, v in sorted(values.items())]}
               for task, values in sorted(metrics.items())]
    header = {"library_name": "transformers", "pipeline_tag": "text-generation", "tags": ["webtext", "gpt"],
              "datasets": [f"webtext-snapshot-{lineage['snapshot_id']}"],
              "metrics": sorted({metric for scores in metrics.values() for metric in scores}),
              "model-index": [{"name": f"{name}:{version}", "results": results}]}
    rows = "\n".join(f"| {task} | {metric} | {value:.4f} |" for task, scores in sorted(metrics.items())
                     for metric, value in sorted(scores.items()))
    shape = lineage["model"]
    return (f"---\n{yaml.safe_dump(header, sort_keys=False)}---\n\n# {name}, version {version}\n\n"
            f"A GPT ({shape['n_layer']} layers, {shape['n_embd']} wide, {shape['n_head']} heads, context "
            f"{shape['block_size']}, {'pre' if shape['pre_ln'] else 'post'}-LN) pretrained from scratch by "
            f"webtext on corpus snapshot `{lineage['snapshot_id']}` for {lineage['step']} steps "
            f"(checkpoint `{lineage['checkpoint_id']}`, tokenizer `{lineage['tokenizer_id']}`, code "
            f"{lineage['code_version']}).\n\n## Evaluation\n\n| task | metric | value |\n|---|---|---|\n"
            f"{rows}\n\nbpb: bits per byte; contamination: the share of a task's examples that share a "
            f"{lineage['contamination_ngram']}-gram of words with the training snapshot.\n")


def _pipeline_tag(task_type: str) -> str:
    return "multiple-choice" if task_type == "multiple_choice" else "text-classification"


def finetuned_card(lineage: dict) -> str:
    """README.md of a fine-tuned version: the Hugging Face header with its validation scores, what it
    reads and predicts, where it came from, and how to run it."""
    name, version, task, parent = lineage["name"], lineage["version"], lineage["task"], lineage["parent"]
    tag = _pipeline_tag(task["type"])
    metrics = lineage["metrics"].get(task["name"], {})
    header = {"library_name": "transformers", "pipeline_tag": tag, "tags": ["webtext", "gpt", "fine-tuned"],
              "datasets": [task["name"]], "metrics": sorted(metrics),
              "model-index": [{"name": f"{name}:{version}", "results": [
                  {"task": {"type": tag}, "dataset": {"name": task["name"], "type": task["name"]},
                   "metrics": [{"type": m, "value": round(v, 6)} for m, v in sorted(metrics.items())]}]}]}
    labels = ", ".join(map(str, task["labels"]))
    predicts = ("a score" if task["regression"] else f"the right answer (labels {labels})"
                if task["type"] == "multiple_choice" else f"one of {labels}")
    columns = ", ".join(" + ".join(f) if isinstance(f, list) else f for f in task["fields"])
    rows = "\n".join(f"| {task['name']} | {metric} | {value:.4f} |"
                     for metric, value in sorted(metrics.items()))
    return (f"---\n{yaml.safe_dump(header, sort_keys=False)}---\n\n# {name}, version {version}\n\n"
            f"A GPT-1-style {task['type']} head on task `{task['name']}`: it reads {columns} and predicts "
            f"{predicts}. Fine-tuned for {lineage['step']} steps from {parent['name']}:{parent['version']} "
            f"(checkpoint `{parent['checkpoint_id']}`), pretrained by webtext on corpus snapshot "
            f"`{lineage['snapshot_id']}` (fine-tuned checkpoint `{lineage['checkpoint_id']}`, tokenizer "
            f"`{lineage['tokenizer_id']}`, code {lineage['code_version']}).\n\n"
            f"Run it: `webtext predict {name}:{version} --input FILE` (a .jsonl, .csv or .tsv with those "
            f"columns).\n\n## Evaluation (validation split)\n\n| task | metric | value |\n|---|---|---|\n"
            f"{rows}\n")


def post_trained_card(lineage: dict) -> str:
    """README.md of a chat (SFT) or reward model version: what it is, where it came from, its held-out
    scores, and how to run it."""
    name, version, parent = lineage["name"], lineage["version"], lineage["parent"]
    chat = "chat" in lineage
    metrics = lineage["metrics"]
    header = {"library_name": "transformers" if chat else "webtext",
              "tags": ["webtext", "gpt", "sft" if chat else "reward-model"],
              **({"pipeline_tag": "text-generation"} if chat else {}),
              "model-index": [{"name": f"{name}:{version}", "results": [
                  {"task": {"type": task}, "dataset": {"name": task, "type": task},
                   "metrics": [{"type": m, "value": round(v, 6)} for m, v in sorted(values.items())]}
                  for task, values in sorted(metrics.items())]}]}
    rows = "\n".join(f"| {task} | {metric} | {value:.4f} |" for task, values in sorted(metrics.items())
                     for metric, value in sorted(values.items()))
    what = ("A chat model: a GPT fine-tuned on demonstrations with the loss on its answers only (SFT, "
            "InstructGPT's step 1), in Anthropic HH's turn format. Run it: `webtext chat "
            f"{name}:{version}`; its transformers export carries the format as `chat_template`."
            if chat else
            "A reward model (InstructGPT's step 2): a GPT with a scalar head on the final token of prompt "
            "and answer, trained on comparisons of answers and normalised so demonstrations average 0. "
            f"Run it: `webtext reward {name}:{version} --prompt TEXT --answer TEXT --answer TEXT`.")
    return (f"---\n{yaml.safe_dump(header, sort_keys=False)}---\n\n# {name}, version {version}\n\n{what}\n\n"
            f"Trained for {lineage['step']} steps from {parent['name']}:{parent['version']} (checkpoint "
            f"`{parent['checkpoint_id']}`; this checkpoint `{lineage['checkpoint_id']}`, tokenizer "
            f"`{lineage['tokenizer_id']}`, code {lineage['code_version']}).\n\n## Evaluation (held out)\n\n"
            f"| task | metric | value |\n|---|---|---|\n{rows}\n")


def write_version(directory: Path, *, weights_dir: Path, tokenizer_json: Path, lineage: dict) -> str:
    """Publish a version directory whole (weights, config, tokenizer, card, lineage); returns the
    sha256 of its `lineage.json`. `directory` must not exist."""
    from webtext.components.tokenize.bpe import write_transformers_files

    def fill(scratch: Path) -> str:
        shutil.copyfile(weights_dir / WEIGHTS, scratch / WEIGHTS)
        shutil.copyfile(weights_dir / CONFIG, scratch / CONFIG)
        shutil.copyfile(tokenizer_json, scratch / "tokenizer.json")
        write_transformers_files(scratch)
        card = (finetuned_card if "task" in lineage else post_trained_card if "parent" in lineage
                else model_card)
        (scratch / CARD).write_text(card(lineage))
        files = {path.name: sha256_file(path) for path in sorted(scratch.iterdir())}
        (scratch / LINEAGE).write_text(json.dumps({**lineage, "files": files}, indent=1) + "\n")
        return sha256_file(scratch / LINEAGE)

    return publish_directory(directory, fill)


def verify_version(directory: Path, lineage_sha256: str) -> dict:
    """The lineage of a version directory once every file matches its recorded hash; otherwise an
    InputError naming the first file that does not."""
    manifest = directory / LINEAGE
    if not manifest.is_file():
        raise InputError(f"registry entry {directory}: {LINEAGE} is missing")
    if sha256_file(manifest) != lineage_sha256:
        raise InputError(f"registry entry {directory}: {LINEAGE} does not match the sha256 the warehouse "
                         f"recorded; the entry was changed after it was registered")
    lineage = json.loads(manifest.read_text())
    for name, expected in lineage["files"].items():
        path = directory / name
        if not path.is_file() or sha256_file(path) != expected:
            raise InputError(f"registry entry {directory}: {name} is missing or does not match the sha256 "
                             f"in {LINEAGE}; the entry was changed after it was registered")
    return lineage


def export_transformers(directory: Path, out: Path, lineage: dict) -> str:
    """Write `out` so that transformers' AutoModelForCausalLM and AutoTokenizer load it: the weights in
    GPT2LMHeadModel's (pre-LN) or OpenAIGPTLMHeadModel's (post-LN) names, their config, the tokenizer
    and the model card; for a fine-tuned classifier or a reward model, AutoModelForSequenceClassification
    (`components.finetune.export`, `components.instruct.export`). A model trained on conversations (a
    `chat` section in its lineage) also gets the format's `chat_template`, so `apply_chat_template`
    prompts it as it was trained. `out` must be absent or empty; what transformers cannot express is
    refused before anything is written. Returns the transformers class written."""
    from safetensors.torch import save_file

    from webtext.components.instruct.chat import write_chat_template
    from webtext.components.model.checkpoint import load_model
    from webtext.components.model.hf import hf_config, to_hf_state_dict

    weights_sha256 = lineage["files"][WEIGHTS]
    try:
        if "task" in lineage:
            from webtext.components.finetune.export import classifier_export

            config, tensors, texts = classifier_export(directory, weights_sha256, lineage["eot_id"])
        elif "reward" in lineage:
            from webtext.components.instruct.checkpoint import load_reward
            from webtext.components.instruct.export import reward_export

            config, tensors, texts = reward_export(load_reward(directory, weights_sha256),
                                                   directory / "tokenizer.json", lineage["eot_id"])
        else:
            model = load_model(directory, weights_sha256)
            config, tensors = hf_config(model.config, lineage["eot_id"]), to_hf_state_dict(model)
            texts = {name: (directory / name).read_text() for name in TOKENIZER_FILES}
    except ValueError as exc:
        raise InputError(f"{lineage['name']}:{lineage['version']}: {exc}") from exc
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"--out {out}: exists and is not an empty directory")
    if out.exists():
        out.rmdir()

    def fill(scratch: Path) -> None:
        save_file(tensors, str(scratch / WEIGHTS), metadata={"format": "pt"})
        (scratch / CONFIG).write_text(json.dumps(config, indent=1) + "\n")
        for name, text in texts.items():
            (scratch / name).write_text(text)
        if "chat" in lineage:
            write_chat_template(scratch)
        shutil.copyfile(directory / CARD, scratch / CARD)

    publish_directory(out, fill)
    return config["architectures"][0]
