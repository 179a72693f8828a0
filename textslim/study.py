"""Side-by-side studies outside the pipeline (scripts/prune_frontier.py, scripts/ablation.py): accuracy, size and
batch-1 latency of a few variants, timed interleaved in one process like the compare stage, ratios against the
first variant (the teacher)."""

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from textslim.bench import benchmark
from textslim.evaluation import deployed_bytes, evaluate_classifier
from textslim.inference import TextClassifier


@dataclass
class Variant:
    classifier: TextClassifier
    model_dir: Path
    model_file: str  # what is deployed: model.safetensors, model.onnx or model_quantized.onnx


def measure(variants: dict[str, Variant], test: pd.DataFrame, labels: list[str], latency_texts: int) -> pd.DataFrame:
    """One row per variant: accuracy, MB on disk, batch-1 median ms, texts/s, and ratios against the first variant."""
    texts = test["text"].tolist()
    timings = benchmark({name: v.classifier for name, v in variants.items()}, texts[:latency_texts], warmup=20,
                        throughput_texts=texts[:512], batch_size=32, rounds=3)
    rows = []
    for name, variant in variants.items():
        scores = evaluate_classifier(variant.classifier, test, labels, batch_size=64)
        rows.append({"variant": name, "accuracy": scores["accuracy"],
                     "mb": deployed_bytes(variant.model_dir, variant.model_file) / 1e6,
                     "batch1_ms": timings[name].batch1_ms_median, "texts_per_s": timings[name].texts_per_s})
    frame = pd.DataFrame(rows)
    frame["speedup"] = frame["batch1_ms"].iloc[0] / frame["batch1_ms"]
    frame["smaller"] = frame["mb"].iloc[0] / frame["mb"]
    return frame


def markdown(frame: pd.DataFrame) -> str:
    """The study's table, ratios against its first row."""
    first = frame["variant"].iloc[0]
    return pd.DataFrame({
        "variant": frame["variant"], "accuracy": (100 * frame["accuracy"]).map("{:.2f}".format),
        "Δ pts": (100 * (frame["accuracy"] - frame["accuracy"].iloc[0])).map("{:+.2f}".format),
        "MB on disk": frame["mb"].map("{:.1f}".format), "batch-1 ms (p50)": frame["batch1_ms"].map("{:.2f}".format),
        "texts/s": frame["texts_per_s"].map("{:.0f}".format),
        f"speed-up vs {first}": frame["speedup"].map("{:.1f}×".format),
        f"smaller than {first}": frame["smaller"].map("{:.1f}×".format),
    }).to_markdown(index=False, disable_numparse=True)
