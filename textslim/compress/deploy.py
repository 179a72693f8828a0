"""A distilled student through what the pipeline does after distillation, outside DVC: prune (with any settings),
export to ONNX, quantize. For studies that try many settings on one student (scripts/prune_frontier.py,
scripts/ablation.py); the pipeline's own stages do the same steps one stage at a time."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from transformers import AutoTokenizer, set_seed

from textslim.atomic import write_json
from textslim.compress.student import compress_student
from textslim.distill import LossWeights
from textslim.forms import SIDE_REPORTS, read_student_record, write_model_files, write_student_record
from textslim.inference import load_torch_model
from textslim.onnx_export import export_to_onnx
from textslim.params import Params, PruneParams
from textslim.quantize import quantize_dynamic, resolve_preset


@dataclass
class Deployed:
    pruned: Path  # PyTorch, after the prune stage's work
    onnx: Path  # model.onnx
    int8: Path  # model_quantized.onnx
    report: dict  # what compress_student did


def export_and_quantize(model_dir: Path, out: Path, params: Params) -> tuple[Path, Path]:
    """model_dir -> out/onnx (fp32) and out/int8, as the export_onnx and quantize stages make them."""
    onnx, int8 = out / "onnx", out / "int8"
    export_to_onnx(model_dir, onnx)
    write_student_record(onnx, read_student_record(model_dir))
    quantize_dynamic(onnx, int8, resolve_preset(params.quantize.preset), per_channel=params.quantize.per_channel)
    write_model_files(onnx, int8)
    return onnx, int8


def deploy(student: Path, out: Path, prune: PruneParams, params: Params, splits: dict[str, pd.DataFrame],
           teacher_logits: dict[str, np.ndarray]) -> Deployed:
    """The student pruned with `prune` (vocabulary, heads, neurons, recovery), exported and quantized under out/."""
    set_seed(params.distill.seed)
    max_length = read_student_record(student)["max_length"]
    model, tokenizer, report = compress_student(
        load_torch_model(student), AutoTokenizer.from_pretrained(student), splits, teacher_logits, prune,
        LossWeights.from_alpha(params.distill.alpha, params.distill.temperature), max_length, params.distill.seed)
    pruned = out / "pruned"
    model.save_pretrained(pruned)
    tokenizer.save_pretrained(pruned)
    write_student_record(pruned, read_student_record(student))
    write_json(pruned / SIDE_REPORTS["sparsity"], report)
    onnx, int8 = export_and_quantize(pruned, out, params)
    return Deployed(pruned, onnx, int8, report)
