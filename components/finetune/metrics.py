"""Task metrics under the names of docs/interface.md: acc, f1, mcc, pearson, spearman.

Written out rather than taken from scikit-learn or SciPy: each is a few lines of NumPy, and the
definitions are the GLUE ones (F1 of the positive class 1; MCC over the binary confusion matrix;
Spearman as Pearson over average ranks, ties sharing their mean rank).
"""

from __future__ import annotations

import numpy as np

DEFAULT_METRICS = {
    "classification": ["acc"],
    "entailment": ["acc"],
    "similarity": ["pearson", "spearman"],
    "multiple_choice": ["acc"],
}
METRICS = ("acc", "f1", "mcc", "pearson", "spearman")


def accuracy(predicted: np.ndarray, gold: np.ndarray) -> float:
    return float(np.mean(predicted == gold))


def f1(predicted: np.ndarray, gold: np.ndarray) -> float:
    tp = np.sum((predicted == 1) & (gold == 1))
    fp, fn = np.sum((predicted == 1) & (gold != 1)), np.sum((predicted != 1) & (gold == 1))
    return float(2 * tp / (2 * tp + fp + fn)) if tp else 0.0


def mcc(predicted: np.ndarray, gold: np.ndarray) -> float:
    p, g = predicted == 1, gold == 1
    tp, tn, fp, fn = (np.sum(p & g), np.sum(~p & ~g), np.sum(p & ~g), np.sum(~p & g))
    denominator = np.sqrt(float((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)))
    return float((tp * tn - fp * fn) / denominator) if denominator else 0.0


def pearson(predicted: np.ndarray, gold: np.ndarray) -> float:
    x, y = predicted - predicted.mean(), gold - gold.mean()
    denominator = np.sqrt(np.sum(x * x) * np.sum(y * y))
    return float(np.sum(x * y) / denominator) if denominator else 0.0


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    for value in np.unique(values):  # ties share their mean rank
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def spearman(predicted: np.ndarray, gold: np.ndarray) -> float:
    return pearson(_ranks(predicted), _ranks(gold))


def score(names: list[str], predicted: np.ndarray, gold: np.ndarray) -> dict[str, float]:
    functions = {"acc": accuracy, "f1": f1, "mcc": mcc, "pearson": pearson, "spearman": spearman}
    return {name: functions[name](np.asarray(predicted), np.asarray(gold)) for name in names}
