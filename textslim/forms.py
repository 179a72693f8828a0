"""The model-folder contract: the forms a model is deployed in, and the student record every folder carries.

A Form names one way a model is deployed (PyTorch fp32, ONNX fp32, ONNX INT8, scikit-learn), the file it is in and the
runtime that runs it; textslim.inference.load(form, folder, ...) opens any of them. The student record
(textslim_student.json) says how a model was made (recipe, max_length, training history); the teacher has one too.
"""

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from textslim.atomic import write_json
from textslim.errors import TextslimError

STUDENT_FILE = "textslim_student.json"
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.-]+")
# The side reports, each written by one stage into its own output folder and read from there (never copied on):
# prune's sparsity, export_onnx's parity with PyTorch, quantize's settings and the CPU it ran on.
SIDE_REPORTS = {"sparsity": "sparsity.json", "parity": "parity.json", "quantize": "quantize.json"}


@dataclass(frozen=True)
class Form:
    name: str  # as metrics, reports and the server name it
    file: str  # the model file in its folder (ONNX external data, if any, beside it as FILE_data)
    runtime: str  # "pytorch", "onnxruntime" or "sklearn"
    short: str  # in variant names: spread-int8, teacher-fp32, ...
    folder: str  # under the models root (dvc.yaml's outs): its own folder, or one per student (and the teacher)
    per_model: bool = True  # False: `folder` is the model's folder itself (the teacher as trained, the baseline)


TEACHER = Form("pytorch-fp32", "model.safetensors", "pytorch", "pytorch", "teacher", per_model=False)
DISTILLED = Form("distilled-fp32", "model.safetensors", "pytorch", "distilled", "students")
PRUNED = Form("pruned-fp32", "model.safetensors", "pytorch", "pruned", "pruned")
ONNX_FP32 = Form("onnx-fp32", "model.onnx", "onnxruntime", "fp32", "onnx")
ONNX_INT8 = Form("onnx-int8", "model_quantized.onnx", "onnxruntime", "int8", "quantized")
SKLEARN = Form("sklearn", "model.joblib", "sklearn", "sklearn", "baseline", per_model=False)
FORMS = {form.name: form for form in (TEACHER, DISTILLED, PRUNED, ONNX_FP32, ONNX_INT8, SKLEARN)}


def form_named(name: str) -> Form:
    if name not in FORMS:
        raise TextslimError(f"unknown model form {name!r}; known: {', '.join(FORMS)}")
    return FORMS[name]


def model_folder(models: str | Path, form: Form, student: str | None) -> Path:
    """Where `form` of a student (None: the teacher, or the baseline) lives under the models root, as dvc.yaml's
    outs lay it out: models/quantized/spread, models/onnx/teacher, models/teacher, models/baseline."""
    if not form.per_model:
        return Path(models) / form.folder
    owner = "teacher" if student is None else student
    if not isinstance(owner, str) or not _PLAIN_NAME.fullmatch(owner) or owner in (".", ".."):
        raise TextslimError(f"student name {owner!r} is not a plain name (letters, digits, '_', '-', '.')")
    return Path(models) / form.folder / owner


def read_student_record(folder: str | Path) -> dict:
    """How the model in `folder` was made: recipe, max_length, training history (written by write_student_record)."""
    path = Path(folder) / STUDENT_FILE
    if not path.is_file():
        raise TextslimError(f"{folder}: no {STUDENT_FILE} (a model folder written by this pipeline has one)")
    return json.loads(path.read_text())


def write_student_record(folder: str | Path, record: dict) -> None:
    """Write the record into a model folder being written (inside atomic_dir): it needs max_length at least."""
    if "max_length" not in record:
        raise ValueError(f"a student record needs max_length: {sorted(record)}")
    write_json(Path(folder) / STUDENT_FILE, record)


def write_model_files(source: str | Path, folder: str | Path) -> None:
    """What a model folder carries besides its weights, written into `folder` from `source`, the folder its model was
    made from: the tokenizer, config.json and the student record (where the source has one: a model from the hub
    has none). No side report: each stays where its stage wrote it."""
    from transformers import AutoTokenizer

    folder, source = Path(folder), Path(source)
    AutoTokenizer.from_pretrained(source).save_pretrained(folder)
    shutil.copyfile(source / "config.json", folder / "config.json")
    if (source / STUDENT_FILE).is_file():
        write_student_record(folder, read_student_record(source))
