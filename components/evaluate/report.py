"""An evaluation's report: the scores, the fine-tuned children's, contamination and sample generations
as Markdown (the `eval-<model>` artifact, kept in `evaluation_runs`), and its one-line summary."""

from __future__ import annotations

Result = tuple[str, str, float, int]  # task, metric, value, n_examples


def summary(results: list[Result]) -> str:
    """The headline scores: bits per byte and accuracy, without the per-file bpb rows."""
    shown = [(t, m, v) for t, m, v, _ in results if m in ("bpb", "acc") and not t.startswith("texts/")]
    return ", ".join(f"{t} {m} {v:.3f}" for t, m, v in shown)


def report(name: str, checkpoint_id: str, results: list[Result], finetuned: list[dict],
           generations: dict[str, str], ngram: int) -> str:
    scores = [r for r in results if r[1] != "contamination"]
    leaks = {t: (v, n) for t, m, v, n in results if m == "contamination"}
    lines = [f"# {name}: checkpoint `{checkpoint_id}`", "", "## Scores", "", "| task | metric | value | n |",
             "|---|---|---|---|"]
    lines += [f"| {t} | {m} | {v:.4f} | {n} |" for t, m, v, n in scores]
    lines += ["", "bpb: bits per byte (n counts tokens); ppl: perplexity of the target word.", ""]
    if finetuned:
        lines += ["## Fine-tuned (from the finetune stage)", "", "| task | metric | value | n | checkpoint |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r['task']} | {r['metric']} | {r['value']:.4f} | {r['n_examples']} | "
                  f"`{r['checkpoint_id']}` |" for r in finetuned]
        lines.append("")
    lines += [f"## Contamination ({ngram}-grams of words shared with the training snapshot)", "",
              "| task | examples with an overlap | n |", "|---|---|---|"]
    lines += [f"| {t} | {v:.1%} | {n} |" for t, (v, n) in leaks.items()]
    if generations:
        lines += ["", "## Sample generations", ""]
        lines += [f"> {text.strip()}".replace("\n", "\n> ") + "\n" for text in generations.values()]
    return "\n".join(lines) + "\n"
