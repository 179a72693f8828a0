"""Export a saved classifier to ONNX with optimum, then check its logits against PyTorch on real texts."""

import json
import logging
from pathlib import Path

import numpy as np

from textslim.errors import TextslimError
from textslim.inference import OUR_MODEL_TYPES, OnnxClassifier, TorchClassifier, prepare_loading

log = logging.getLogger(__name__)


def export_to_onnx(model_dir: str | Path, out_dir: str | Path) -> Path:
    """optimum's exporter: model.onnx with dynamic batch and sequence axes, tokenizer and config beside it.

    optimum knows the architectures transformers ships; a recipe whose model is ours (the BiLSTM, SetFit) registers
    its own exporter, found through the student's recorded recipe name.
    """
    from textslim.evaluation import STUDENT_FILE, student_description
    from textslim.students.registry import get_recipe

    strategy = None
    if (Path(model_dir) / STUDENT_FILE).is_file():
        strategy = student_description(model_dir).get("strategy")  # the teacher has none
        recipe = get_recipe(strategy) if strategy else None
        if recipe is not None and recipe.export is not None:
            return recipe.export(model_dir, out_dir)
    model_type = json.loads((Path(model_dir) / "config.json").read_text()).get("model_type", "")
    if model_type.startswith(OUR_MODEL_TYPES):  # optimum would fail with a message about library names
        raise TextslimError(f"{model_dir}: a {model_type} model needs its recipe's exporter, but its "
                            f"{STUDENT_FILE} names {'recipe ' + repr(strategy) if strategy else 'no recipe'}")
    from optimum.exporters.onnx import main_export

    prepare_loading(model_dir)  # optimum loads the model with from_pretrained in this process

    main_export(model_name_or_path=str(model_dir), output=str(out_dir), task="text-classification",
                device="cpu", do_validation=False)  # validated below, on real texts rather than random ids
    return Path(out_dir) / "model.onnx"


def parity(model_dir: str | Path, onnx_dir: str | Path, texts: list[str], max_length: int,
           tolerance: float) -> dict:
    """Max |ONNX - PyTorch| over the logits of real texts; raise if past the tolerance."""
    torch_logits = TorchClassifier(model_dir, max_length).logits(texts)
    onnx_logits = OnnxClassifier(onnx_dir, "model.onnx", max_length).logits(texts)
    max_diff = float(np.abs(torch_logits - onnx_logits).max())
    agreement = float((torch_logits.argmax(-1) == onnx_logits.argmax(-1)).mean())
    report = {"max_abs_diff": max_diff, "tolerance": tolerance, "texts": len(texts), "argmax_agreement": agreement}
    if max_diff > tolerance:
        raise TextslimError(f"export_onnx.tolerance: ONNX logits differ from PyTorch by {max_diff:.2e} "
                            f"> {tolerance:.0e} on {len(texts)} test texts")
    return report
