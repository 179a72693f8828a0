"""Export a saved classifier to ONNX with optimum, then check its logits against PyTorch on real texts."""

import logging
from pathlib import Path

import numpy as np

from textslim.errors import TextslimError
from textslim.inference import OnnxClassifier, TorchClassifier

log = logging.getLogger(__name__)


def export_to_onnx(model_dir: str | Path, out_dir: str | Path) -> Path:
    """optimum's exporter: model.onnx with dynamic batch and sequence axes, tokenizer and config beside it.

    optimum knows the architectures transformers ships; the BiLSTM and SetFit students are ours, so they go through
    torch.onnx.
    """
    from transformers import AutoConfig

    from textslim.students.lstm import BiLstmConfig
    from textslim.students.setfit import SetFitClassifierConfig
    from textslim.students.torch_export import export_torch_onnx

    ours = (BiLstmConfig.model_type, SetFitClassifierConfig.model_type)
    if AutoConfig.from_pretrained(model_dir).model_type in ours:
        return export_torch_onnx(model_dir, out_dir)
    from optimum.exporters.onnx import main_export

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
