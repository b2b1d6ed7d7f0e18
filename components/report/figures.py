"""The seed papers' claims as figures: each a question, the data table that answers it, charts of that
table, and the checkpoints and data it came from. A figure whose inputs the warehouse does not hold says
what is missing and how to produce it, and draws nothing.

The builders take plain rows (the warehouse's, `warehouse.report`) and compute nothing but the pairing
and grouping a figure needs, so that every number in a chart is a number in its table.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from webtext.components.plot import bars, lines


@dataclass(frozen=True)
class Figure:
    key: str  # names its files: figures/<key>-<n>.svg
    title: str
    question: str  # the paper's question, and where the paper asked it
    header: list[str] = field(default_factory=list)
    rows: list[list] = field(default_factory=list)  # the data table
    charts: list[str] = field(default_factory=list)  # SVG documents drawn from `rows`
    sources: list[str] = field(default_factory=list)  # the checkpoints and data behind the rows
    notes: list[str] = field(default_factory=list)
    missing: str | None = None  # why there is no table, and what would produce one


def short(digest: str | None) -> str:
    return (digest or "none")[:12]


# --- GPT-1: does pretraining help fine-tuning? ---------------------------------------------------------

GAIN = "pretraining-gain"
GAIN_TITLE = "Fine-tuning from pretrained weights against from scratch (GPT-1, table 2's question)"
GAIN_QUESTION = ("Does generative pretraining help a discriminative task? GPT-1 (Radford et al. 2018) "
                 "compares the same model fine-tuned from its pretrained weights and from random ones "
                 "(section 5, 'Ablation studies').")


def _settings(run: dict) -> dict:
    """What a fine-tuning run was configured with, less what separates its two arms."""
    return {k: v for k, v in run["config"].items() if k not in ("from_scratch", "adapter", "shape_of")}


def pretraining_gain(parent: dict | None, runs: list[dict]) -> Figure:
    """`parent`: the pretrained checkpoint (`checkpoint_id`, `label`); `runs`: fine-tuning runs from it
    and from scratch in its shape (`checkpoint_id`, `created_at`, `scratch`, `config`, `scores`: rows of
    metric, value, n_examples, data_sha256). Each task's latest pretrained run is paired with the latest
    scratch run of the same settings; metrics are compared only on the same data."""
    figure = Figure(GAIN, GAIN_TITLE, GAIN_QUESTION)
    if parent is None:
        return _missing(figure, "no registered pretrained version: run the pipeline through `register`")
    latest: dict[tuple[str, bool], dict] = {}
    for run in sorted(runs, key=lambda r: r["created_at"]):
        latest[(run["config"]["task"]["name"], run["scratch"])] = run
    header = ["task", "metric", "pretrained", "from scratch", "gain", "n", "pretrained run", "scratch run"]
    rows, primary, tasks = [], {}, []
    for task in sorted({name for name, _ in latest}):
        tuned, scratch = latest.get((task, False)), latest.get((task, True))
        if tuned is None or scratch is None or _settings(tuned) != _settings(scratch):
            continue
        baseline = {s["metric"]: s for s in scratch["scores"]}
        for score in tuned["scores"]:
            other = baseline.get(score["metric"])
            if other is None or other["data_sha256"] != score["data_sha256"]:
                continue
            gain = score["value"] - other["value"]
            rows.append([task, score["metric"], score["value"], other["value"], gain, score["n_examples"],
                         tuned["checkpoint_id"], scratch["checkpoint_id"]])
            primary.setdefault(task, (score["metric"], score["value"], other["value"]))
        tasks.append(task)
    if not rows:
        return _missing(figure, f"no task fine-tuned from {parent['label']} (checkpoint "
                                f"{parent['checkpoint_id']}) has a scratch baseline of the same settings: "
                                "set `finetune.with_scratch_baseline: true` and run "
                                "`webtext stage finetune`")
    groups = [f"{task} ({metric})" for task, (metric, _, _) in primary.items()]
    chart = bars(groups, {"pretrained": [p for _, p, _ in primary.values()],
                          "from scratch": [s for _, _, s in primary.values()]},
                 f"Fine-tuned from {parent['label']} against from scratch", "validation score")
    sources = [f"pretrained: {parent['label']} (checkpoint `{parent['checkpoint_id']}`)"]
    sources += [f"{row[0]}: fine-tuned `{row[6]}`, scratch `{row[7]}`" for row in rows
                if row[1] == primary[row[0]][0]]
    return Figure(GAIN, GAIN_TITLE, GAIN_QUESTION, header, rows, [chart], sources,
                  ["Both arms: the same shape, task, data and settings; the scratch arm trains every weight "
                   "from random initialisation. Chart: each task's first metric."])


# --- GPT-2: zero-shot scores and bits per byte against training and size -------------------------------

SCALING = "zero-shot-scaling"
SCALING_TITLE = "Zero-shot scores and bits per byte against pretraining step and model size (GPT-2, figure 1)"
SCALING_QUESTION = ("Do zero-shot task performance and language modelling improve with training and with "
                    "model size? GPT-2 (Radford et al. 2019) shows both rising together, log-linearly in "
                    "size (figure 1, section 3).")


def zero_shot_scaling(points: list[dict]) -> Figure:
    """`points`: one per evaluated set of weights (a registered version's, or its run's along training):
    `label`, `checkpoint_id`, `step`, `created_at`, `parameters`, `scores`: {(task, metric): (value,
    data_sha256, ...)}. A task's scores are compared only on the data its latest point was measured on."""
    figure = Figure(SCALING, SCALING_TITLE, SCALING_QUESTION)
    points = [p for p in points if p["scores"]]
    if not points:
        return _missing(figure, "no evaluated pretrained version: run the pipeline through `evaluate`")
    latest = max(points, key=lambda p: (p["created_at"], p["step"]))
    bpb_task = "texts" if ("texts", "bpb") in latest["scores"] else "validation"
    keys = [(bpb_task, "bpb")] + sorted(k for k in latest["scores"] if k[1] == "acc" and "/" not in k[0])
    data = {key: latest["scores"][key][1] for key in keys}
    header = ["weights", "checkpoint", "step", "parameters"] + [f"{task} {metric}" for task, metric in keys]
    rows, dropped = [], 0
    for point in sorted(points, key=lambda p: (p["parameters"], p["step"])):
        values = []
        for key in keys:
            found = point["scores"].get(key)
            same = found is not None and found[1] == data[key]
            dropped += found is not None and not same
            values.append(found[0] if same else None)
        rows.append([point["label"], point["checkpoint_id"], point["step"], point["parameters"], *values])
    sizes = sorted({row[3] for row in rows})
    finals = {}
    for row in rows:  # each checkpoint's last evaluated step stands for its size
        if row[1] not in finals or row[2] > finals[row[1]][2]:
            finals[row[1]] = row
    charts = []
    for i, (task, metric) in enumerate(keys):
        column = 4 + i
        by_step = defaultdict(list)  # one curve per model size
        for row in rows:
            if row[column] is not None:
                by_step[f"{row[3]:,} parameters"].append((row[2], row[column]))
        by_size = defaultdict(list)
        for row in finals.values():
            if row[column] is not None:
                by_size[f"{task} {metric}"].append((row[3], row[column]))
        charts.append(lines({k: sorted(v) for k, v in by_step.items()}, f"{task} {metric} along pretraining",
                            "step", metric))
        if len(sizes) > 1:
            charts.append(lines({k: sorted(v) for k, v in by_size.items()}, f"{task} {metric} by model size",
                                "parameters (log scale)", metric, log_x=True))
    notes = [f"{len(sizes)} model size(s), {len(rows)} evaluated set(s) of weights; bits per byte on "
             f"`{bpb_task}`; accuracy on each zero-shot task."]
    if len(sizes) < 2:
        notes.append("One model size only: the size axis needs versions of other shapes (`pretrain.model`).")
    if dropped:
        notes.append(f"{dropped} score(s) measured on other data than the latest evaluation's are left out.")
    sources = [f"{row[0]}: checkpoint `{row[1]}`" for row in rows]
    sources += [f"`{task}` {metric}: data {short(digest)}" for (task, metric), digest in data.items()]
    return Figure(SCALING, SCALING_TITLE, SCALING_QUESTION, header, rows, charts, sources, notes)


# --- GPT-3: few-shot scores against K ---------------------------------------------------------------------

SHOTS = "k-shot"
SHOTS_TITLE = "Few-shot scores against the number of examples in context, K (GPT-3, figure 1.2's question)"
SHOTS_QUESTION = ("Does a language model use examples given in its context? GPT-3 (Brown et al. 2020) scores "
                  "each task zero-, one- and few-shot, with no gradient update (section 2).")


def k_shot(checkpoint: dict | None, rows: list[dict]) -> Figure:
    """`rows`: one per task, K and metric scored on `checkpoint`: `task` (the task's configured name),
    `k`, `metric`, `value`, `n_examples`, `data_sha256`. Tasks scored at one K only are left out; each
    metric is a chart (accuracy, and a last word's perplexity, which moves before accuracy does)."""
    figure = Figure(SHOTS, SHOTS_TITLE, SHOTS_QUESTION)
    ks = defaultdict(set)
    for row in rows:
        ks[row["task"]].add(row["k"])
    swept = sorted((r for r in rows if len(ks[r["task"]]) > 1),
                   key=lambda r: (r["task"], r["metric"], r["k"]))
    if checkpoint is None or not swept:
        return _missing(figure, "no task was scored at more than one K: give an evaluate task a list, "
                                "`shots: [0, 1, 3]`, and run `webtext stage evaluate`")
    header = ["task", "K", "metric", "value", "n", "data"]
    table = [[r["task"], r["k"], r["metric"], r["value"], r["n_examples"], short(r["data_sha256"])]
             for r in swept]
    charts = []
    for metric in dict.fromkeys(r["metric"] for r in swept):
        series = defaultdict(list)
        for r in swept:
            if r["metric"] == metric:
                series[r["task"]].append((r["k"], r["value"]))
        charts.append(lines(dict(series), f"{metric} against K on {checkpoint['label']}",
                            "K (examples in context)", metric))
    return Figure(SHOTS, SHOTS_TITLE, SHOTS_QUESTION, header, table, charts,
                  [f"{checkpoint['label']} (checkpoint `{checkpoint['checkpoint_id']}`)"],
                  ["The K examples are drawn from each task's `shots_split` with the evaluation's seed; "
                   "ppl is the perplexity of a last word's tokens (lower is better)."])


# --- GPT-2/3: contamination ------------------------------------------------------------------------------

LEAK = "contamination"
LEAK_TITLE = "Overlap of each evaluation set with the training snapshot, and scores on its clean part"
LEAK_QUESTION = ("Do test sets leak into web corpora, and do the scores owe anything to it? GPT-2 "
                 "(section 4, 8-gram Bloom filters) and GPT-3 (section 4, 13-gram overlap) report each "
                 "benchmark's overlap with the training data and the score on its clean subset.")


def contamination(checkpoint: dict | None, rows: list[dict]) -> Figure:
    """`rows`: one per evaluation set: `set`, `contamination` (share of examples), `n_examples`, and for a
    zero-shot task `metric`, `full`, `clean`, `n_clean` (None where there is no such score)."""
    figure = Figure(LEAK, LEAK_TITLE, LEAK_QUESTION)
    if checkpoint is None or not rows:
        return _missing(figure, "no contamination measured: run `webtext stage evaluate`")
    header = ["evaluation set", "contaminated share", "n", "metric", "full", "clean", "n clean",
              "clean - full"]
    table = [[r["set"], r["contamination"], r["n_examples"], r["metric"] or "-", r["full"], r["clean"],
              r["n_clean"], None if r["full"] is None or r["clean"] is None else r["clean"] - r["full"]]
             for r in rows]
    charts = [bars([r["set"] for r in rows], {"contaminated share": [r["contamination"] for r in rows]},
                   f"Examples sharing an n-gram with snapshot {checkpoint['snapshot_id']}",
                   "share of examples")]
    scored = [r for r in rows if r["full"] is not None]
    if scored:
        charts.append(bars([r["set"] for r in scored], {"full": [r["full"] for r in scored],
                                                         "clean": [r["clean"] for r in scored]},
                           "Zero-shot scores on the full set and on its clean part", scored[0]["metric"]))
    return Figure(LEAK, LEAK_TITLE, LEAK_QUESTION, header, table, charts,
                  [f"{checkpoint['label']} (checkpoint `{checkpoint['checkpoint_id']}`), trained on snapshot "
                   f"`{checkpoint['snapshot_id']}`"],
                  [f"An example is contaminated when it shares a {checkpoint['ngram']}-word n-gram with the "
                   "snapshot; its clean part is the rest. Fine-tuning sets and texts have no clean score."])


# --- InstructGPT: before and after alignment -------------------------------------------------------------

ALIGN = "alignment"
ALIGN_TITLE = "Reward and win rate before and after alignment (InstructGPT, figure 1's question)"
ALIGN_QUESTION = ("Does optimising against human preferences give answers people prefer, at little cost to "
                  "language modelling? InstructGPT (Ouyang et al. 2022) compares the SFT model with its PPO "
                  "policy (section 4.1) and measures the 'alignment tax' (section 4.2).")


def alignment(aligned: dict | None, sft: dict | None, after: dict[str, float], before: dict[str, float]
              ) -> Figure:
    """`aligned` and `sft`: the aligned version and the SFT checkpoint it started from (`label`,
    `checkpoint_id`); `after` and `before`: their held-out `alignment` metrics on the same prompts."""
    figure = Figure(ALIGN, ALIGN_TITLE, ALIGN_QUESTION)
    if aligned is None or sft is None or not after:
        return _missing(figure, "no aligned model: configure `sft`, `reward` and `align` data and run the "
                                "post-training stages")
    header = ["metric", "before (SFT)", "after (aligned)"]
    table = [[metric, before.get(metric), after[metric]] for metric in sorted(after)]
    shared = [m for m in ("reward", "rule", "lm_loss") if m in before and m in after]
    chart = bars(shared, {"before (SFT)": [before[m] for m in shared],
                          "after (aligned)": [after[m] for m in shared]},
                 f"{sft['label']} against {aligned['label']} on held-out prompts", "value")
    notes = []
    if "win_rate" in after:
        kl = after.get("kl", float("nan"))
        notes.append(f"The aligned model's answer was preferred to the SFT model's on "
                     f"{after['win_rate']:.1%} of the prompts; its KL from the SFT model is {kl:.3g} "
                     "nats per answer.")
    return Figure(ALIGN, ALIGN_TITLE, ALIGN_QUESTION, header, table, [chart],
                  [f"after: {aligned['label']} (checkpoint `{aligned['checkpoint_id']}`)",
                   f"before: {sft['label']} (checkpoint `{sft['checkpoint_id']}`)"], notes)


def _missing(figure: Figure, why: str) -> Figure:
    return Figure(figure.key, figure.title, figure.question, missing=why)
