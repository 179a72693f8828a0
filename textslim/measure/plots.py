"""The report's figures (matplotlib PNGs) and the data files that `dvc plots show` draws natively."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from textslim.forms import DISTILLED, ONNX_FP32, ONNX_INT8, PRUNED, SKLEARN, TEACHER  # noqa: E402

FORM_COLOURS = {TEACHER.name: "#d62728", DISTILLED.name: "#ff7f0e", PRUNED.name: "#bcbd22", ONNX_FP32.name: "#1f77b4",
                ONNX_INT8.name: "#2ca02c", SKLEARN.name: "#7f7f7f"}


def accuracy_vs_latency(rows: list[dict], path: Path, threads: int) -> None:
    """Scatter of test accuracy against batch-1 latency (log scale), one labelled point per variant."""
    fig, ax = plt.subplots(figsize=(9, 6))
    for row in rows:
        ax.scatter(row["batch1_ms_median"], 100 * row["accuracy"], s=50, color=FORM_COLOURS.get(row["form"], "k"),
                   label=row["form"])
        ax.annotate(row["name"], (row["batch1_ms_median"], 100 * row["accuracy"]), fontsize=7,
                    xytext=(4, 3), textcoords="offset points")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), fontsize=8, loc="lower right")
    ax.set_xscale("log")
    ax.set_xlabel(f"batch-1 latency, median ms (log scale; {threads} threads)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Accuracy vs latency: up and to the left is better")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def size_bars(rows: list[dict], path: Path) -> None:
    """Horizontal bars of megabytes on disk per variant."""
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(rows) + 1.5))
    names = [r["name"] for r in rows][::-1]
    sizes = [r["size_mb"] for r in rows][::-1]
    colours = [FORM_COLOURS.get(r["form"], "k") for r in rows][::-1]
    ax.barh(names, sizes, color=colours)
    for y, size in enumerate(sizes):
        ax.text(size, y, f" {size:.1f}", va="center", fontsize=7)
    ax.set_xlabel("MB on disk (model file + tokenizer + config)")
    ax.set_title("Size per variant")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def confusion(matrix: list[list[int]], labels: list[str], title: str, path: Path) -> None:
    """A confusion matrix heat map with counts (rows: true label)."""
    fig, ax = plt.subplots(figsize=(1.2 * len(labels) + 3, 1.0 * len(labels) + 2.5))
    ax.imshow(matrix, cmap="Blues")
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            ax.text(j, i, str(count), ha="center", va="center", fontsize=10)
    ax.set_xticks(range(len(labels)), labels, rotation=30)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def training_curves(histories: dict[str, list[dict] | str], path: Path) -> None:
    """Validation accuracy and training loss per epoch for the teacher and each student. A model with no epochs here
    is a legend entry saying why, not an empty curve: its history is that reason, or empty ("not fine-tuned here")."""
    fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(11, 4.5))
    for name, history in histories.items():
        if isinstance(history, str) or not history:
            for ax in (acc_ax, loss_ax):
                ax.plot([], [], linestyle="none", marker="x", label=f"{name}: {history or 'not fine-tuned here'}")
            continue
        epochs = [e["epoch"] for e in history]
        acc_ax.plot(epochs, [100 * e["eval_accuracy"] for e in history], marker="o", label=name)
        loss_ax.plot(epochs, [e["eval_loss"] for e in history], marker="o", label=name)
    acc_ax.set(xlabel="epoch", ylabel="validation accuracy (%)", title="Validation accuracy")
    loss_ax.set(xlabel="epoch", ylabel="validation loss (CE for the teacher, KD loss for students)",
                title="Validation loss")
    for ax in (acc_ax, loss_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def confusion_long(matrix: list[list[int]], labels: list[str]) -> pd.DataFrame:
    """One row per test example (actual, predicted): the shape DVC's confusion template reads."""
    rows = [{"actual": labels[i], "predicted": labels[j]}
            for i, row in enumerate(matrix) for j, count in enumerate(row) for _ in range(count)]
    return pd.DataFrame(rows)


def variant_points(rows: list[dict]) -> pd.DataFrame:
    """One row per variant with its accuracy, batch-1 latency and size: the data behind the accuracy-vs-latency
    scatter and the size bars, for `dvc plots show` / `dvc plots diff` (which can overlay data, not PNGs)."""
    return pd.DataFrame([{"variant": r["name"], "accuracy": round(100 * r["accuracy"], 2),
                          "batch1_ms": r["batch1_ms_median"], "size_mb": r["size_mb"],
                          "texts_per_s": r["texts_per_s"]} for r in rows])
