"""An evaluation's report: the scores beside their chance level and the current champion's, the
fine-tuned children's, contamination and sample generations as Markdown (the `eval-<model>` artifact,
kept in `evaluation_runs`), and its one-line summary."""

from __future__ import annotations

from collections.abc import Mapping

from webtext.components.records import Result

CHANCE = "chance"  # a task's score when guessing uniformly: its answers', or the vocabulary's
Scores = Mapping[tuple[str, str], Result]


def _chance(results: list[Result]) -> dict[str, float]:
    return {r.task: r.value for r in results if r.metric == CHANCE}


def _held(score: Result, champion: Scores) -> str:
    """The champion's value of the same score, when it was measured on the same data."""
    held = champion.get((score.task, score.metric))
    if held is None:
        return ""
    return f"{held.value:.4f}" if held.data_sha256 == score.data_sha256 else "other data"


def summary(results: list[Result], champion: Scores | None = None, champion_name: str | None = None) -> str:
    """The headline scores (bits per byte and accuracy, without the per-file and clean-subset rows),
    each with its chance level and the champion's value where there are."""
    chance = _chance(results)
    parts = []
    for r in results:
        if r.metric not in ("bpb", "acc") or "/" in r.task:
            continue
        notes = [f"chance {chance[r.task]:.3g}"] if r.metric == "acc" and r.task in chance else []
        held = _held(r, champion or {})
        if held:
            notes.append(f"{champion_name} {held}")
        parts.append(f"{r.task} {r.metric} {r.value:.3f}" + (f" ({', '.join(notes)})" if notes else ""))
    return ", ".join(parts)


def report(name: str, checkpoint_id: str, results: list[Result], finetuned: list[dict],
           generations: dict[str, str], ngram: int, champion: Scores | None = None,
           champion_name: str | None = None) -> str:
    chance = _chance(results)
    scores = [r for r in results if r.metric not in ("contamination", CHANCE)]
    leaks = [r for r in results if r.metric == "contamination"]
    against = champion_name or "champion"
    lines = [f"# {name}: checkpoint `{checkpoint_id}`", "", "## Scores", "",
             f"| task | metric | value | chance | {against} | n |", "|---|---|---|---|---|---|"]
    for r in scores:
        guess = chance.get(r.task.removesuffix("/clean")) if r.metric.startswith("acc") else None
        lines.append(f"| {r.task} | {r.metric} | {r.value:.4f} | {'' if guess is None else f'{guess:.4f}'} | "
                     f"{_held(r, champion or {})} | {r.n_examples} |")
    lines += ["", "bpb: bits per byte (n counts tokens); ppl: perplexity of the target word; chance: the "
              "accuracy of a uniform guess (among the answers, or over the vocabulary for a last word); "
              "`<task>/clean`: the examples sharing no n-gram with the training snapshot; a champion's "
              "score measured on other data is not shown.", ""]
    if finetuned:
        lines += ["## Fine-tuned (from the finetune stage)", "", "| task | metric | value | n | checkpoint |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r['task']} | {r['metric']} | {r['value']:.4f} | {r['n_examples']} | "
                  f"`{r['checkpoint_id']}` |" for r in finetuned]
        lines.append("")
    lines += [f"## Contamination ({ngram}-grams of words shared with the training snapshot)", "",
              "| task | examples with an overlap | n |", "|---|---|---|"]
    lines += [f"| {r.task} | {r.value:.1%} | {r.n_examples} |" for r in leaks]
    if generations:
        lines += ["", "## Sample generations", ""]
        lines += [f"> {text.strip()}".replace("\n", "\n> ") + "\n" for text in generations.values()]
    return "\n".join(lines) + "\n"
