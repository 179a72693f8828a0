"""A distilled student through what the pipeline does after distillation, outside DVC: prune (with any settings),
export to ONNX, quantize. For studies that try many settings on one student (scripts/prune_frontier.py,
scripts/ablation.py): each step is the function its stage runs (prune_folder, export_folder, quantize_folder), so
a study's model is made exactly as the pipeline's is."""

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from textslim.compress.onnx_export import export_folder
from textslim.compress.quantize import quantize_folder
from textslim.compress.student import prune_folder
from textslim.params import Params, PruneParams


@dataclass
class Deployed:
    pruned: Path  # PyTorch, after the prune stage's work
    onnx: Path  # model.onnx
    int8: Path  # model_quantized.onnx
    report: dict  # what compress_student did


def export_and_quantize(model_dir: Path, out: Path, params: Params, splits: dict[str, pd.DataFrame]
                        ) -> tuple[Path, Path]:
    """model_dir -> out/onnx (fp32) and out/int8, as the export_onnx and quantize stages make them."""
    onnx, int8 = out / "onnx", out / "int8"
    onnx.mkdir(parents=True, exist_ok=True)
    int8.mkdir(exist_ok=True)
    export_folder(model_dir, onnx, params.export_onnx,
                  splits["test"]["text"].head(params.export_onnx.parity_texts).tolist())
    quantize_folder(onnx, int8, params.quantize, splits["train"]["text"].tolist(), params.seed,
                    validation=splits["validation"])
    return onnx, int8


def deploy(student: Path, out: Path, prune: PruneParams, params: Params, splits: dict[str, pd.DataFrame],
           teacher_logits: dict[str, np.ndarray]) -> Deployed:
    """The student pruned with `prune` (vocabulary, heads, neurons, recovery), exported and quantized under out/."""
    pruned = out / "pruned"
    pruned.mkdir(parents=True, exist_ok=True)
    report = prune_folder(student, pruned, replace(params, prune=prune), splits, teacher_logits)
    onnx, int8 = export_and_quantize(pruned, out, params, splits)
    return Deployed(pruned, onnx, int8, report)
