"""ONNX export of our own model types (the BiLSTM and SetFit students) with torch.onnx, laid out like an optimum
export: model.onnx, config.json and the tokenizer. optimum only knows the architectures transformers ships."""

import warnings
from pathlib import Path

import torch
from torch import nn
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import textslim.students  # noqa: F401  (registers our model types with the Auto classes)

# Rows of different lengths, so the trace exercises the masking (and the BiLSTM's per-row reversal).
TRACE_TEXTS = ["a short one", "a somewhat longer text, so that the first row needs padding"]


class _LogitsOnly(nn.Module):
    """The classifier with a plain tensor output: the exporter names it "logits"."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def export_torch_onnx(model_dir: str | Path, out_dir: str | Path) -> Path:
    """Write out_dir/model.onnx (dynamic batch and sequence axes) with the config and tokenizer files beside it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).to("cpu").eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    batch = tokenizer(TRACE_TEXTS, padding=True, return_tensors="pt")
    input_ids, attention_mask = batch["input_ids"], batch["attention_mask"]
    with torch.no_grad(), warnings.catch_warnings():
        # The exporter warns that LSTMs traced at batch > 1 may fail at other batch sizes; that holds only for h0/c0
        # passed in as fixed tensors. Here they are left out, so the graph builds zeros from the input's shape.
        warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch_size other than 1")
        torch.onnx.export(
            _LogitsOnly(model), (input_ids, attention_mask), str(out / "model.onnx"), dynamo=False,
            opset_version=17, input_names=["input_ids", "attention_mask"], output_names=["logits"],
            dynamic_axes={"input_ids": {0: "batch_size", 1: "sequence_length"},
                          "attention_mask": {0: "batch_size", 1: "sequence_length"}, "logits": {0: "batch_size"}})
    model.config.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out / "model.onnx"
