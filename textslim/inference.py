"""Batched inference for each runtime a model is deployed in: PyTorch, ONNX Runtime, scikit-learn.

Every classifier maps a list of texts to an (n, classes) array of scores, so evaluation and latency code is
written once for all of them.
"""

import json
import logging
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import textslim.architectures  # noqa: F401  (our model types registered, pruned MPNet fixed: every folder loads)
from textslim.cpu import describe_cpu, products_differ

log = logging.getLogger(__name__)

def load_torch_model(model_dir: str | Path):
    """AutoModelForSequenceClassification.from_pretrained, for our own model types and pruned models too (this module
    imports textslim.architectures, which registers them)."""
    return AutoModelForSequenceClassification.from_pretrained(model_dir)


class TextClassifier(Protocol):
    def logits(self, texts: list[str]) -> np.ndarray: ...


class TorchClassifier:
    """A saved transformers classifier, run in fp32 on the CPU."""

    def __init__(self, model_dir: str | Path, max_length: int, model=None, tokenizer=None):
        self.tokenizer = tokenizer or AutoTokenizer.from_pretrained(model_dir)
        self.model = (model or load_torch_model(model_dir)).to("cpu").eval()
        self.max_length = max_length

    @torch.inference_mode()
    def logits(self, texts: list[str]) -> np.ndarray:
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt")
        return self.model(**batch).logits.float().numpy()


def ort_session(model_path: str | Path, threads: int = 0, spinning: bool = True):
    """An ONNX Runtime CPU session; threads=0 lets ORT use every core.

    spinning=False stops idle pool threads busy-waiting after each run: a little batch-1 latency, in exchange for
    cores left free for whatever else runs between calls (a server's event loop and tokenizer).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    warn_if_quantized_elsewhere(Path(model_path).parent)
    return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])


_warned_folders: set[Path] = set()


def warn_if_quantized_elsewhere(model_dir: Path) -> None:
    """One log line per folder when an INT8 model was quantized (and, in the pipeline, scored) on a CPU whose int8
    path differs from this one's, saying whether ONNX Runtime's integer products can differ here for its types."""
    record_path = model_dir / "quantize.json"
    if not record_path.is_file() or model_dir.resolve() in _warned_folders:
        return
    record = json.loads(record_path.read_text())
    there, here = record.get("cpu"), describe_cpu()
    if there is None or there["int8_path"] == here["int8_path"]:
        return
    _warned_folders.add(model_dir.resolve())
    consequence = ("its integer products can differ here (uint8 x int8 saturates without VNNI), so may its answers"
                   if products_differ(record, there["int8_path"], here["int8_path"])
                   else "its integer products are the same here for its operand types")
    log.warning("%s was quantized on %s (int8 path %s) and its accuracy was checked there only; this CPU, %s, takes "
                "the %s path: %s", model_dir, there["model"], there["int8_path"], here["model"], here["int8_path"],
                consequence)


class OnnxClassifier:
    """An exported transformers classifier (model.onnx or model_quantized.onnx beside its tokenizer)."""

    def __init__(self, model_dir: str | Path, model_file: str, max_length: int, threads: int = 0):
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.session = ort_session(Path(model_dir) / model_file, threads)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.max_length = max_length

    def logits(self, texts: list[str]) -> np.ndarray:
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="np")
        feeds = {name: batch[name].astype(np.int64) for name in self.input_names}
        return self.session.run(["logits"], feeds)[0]


class SklearnClassifier:
    """A scikit-learn text pipeline; its decision scores stand in for logits."""

    def __init__(self, model_path: str | Path):
        import joblib

        self.pipeline = joblib.load(model_path)

    def logits(self, texts: list[str]) -> np.ndarray:
        return self.pipeline.predict_proba(texts)


def batched_logits(classifier: TextClassifier, texts: list[str], batch_size: int) -> np.ndarray:
    """Scores for every text, batching texts of similar length together (less padding) in the original order."""
    order = np.argsort([len(t) for t in texts], kind="stable")
    out: list[np.ndarray] = [None] * len(texts)  # type: ignore[list-item]
    for start in range(0, len(texts), batch_size):
        chunk = order[start:start + batch_size]
        scores = classifier.logits([texts[i] for i in chunk])
        for i, row in zip(chunk, scores):
            out[i] = row
    return np.stack(out)
