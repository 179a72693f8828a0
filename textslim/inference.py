"""Batched inference for each runtime a model is deployed in: PyTorch, ONNX Runtime, scikit-learn.

load(form, folder, max_length) opens any form of any model folder (textslim.forms). Every classifier maps a list
of texts to an (n, classes) array of scores (logits), so evaluation and latency code is written once for all of
them; classify() gives the same scores with the tokens each text used and whether it was cut at max_length.
"""

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, BatchEncoding

import textslim.architectures  # noqa: F401  (our model types registered, pruned MPNet fixed: every folder loads)
from textslim.cpu import describe_cpu, products_differ
from textslim.errors import TextslimError
from textslim.forms import Form, form_named

log = logging.getLogger(__name__)


def load_torch_model(model_dir: str | Path):
    """AutoModelForSequenceClassification.from_pretrained, for our own model types and pruned models too (this module
    imports textslim.architectures, which registers them)."""
    return AutoModelForSequenceClassification.from_pretrained(model_dir)


@dataclass(frozen=True)
class Classified:
    """One call's scores, with what the tokenizer did to each text."""

    logits: np.ndarray  # (n_texts, n_labels)
    n_tokens: list[int]  # tokens per text after truncation, special tokens included
    truncated: list[bool]  # whether the text was cut at max_length
    tokenize_ms: float  # the tokenizer call
    inference_ms: float  # the model call only

    def probabilities(self) -> np.ndarray:
        """Row-wise softmax in float64, so that each row sums to 1 well within 1e-5."""
        z = self.logits.astype(np.float64)
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)


class TextClassifier(Protocol):
    def logits(self, texts: list[str]) -> np.ndarray: ...

    def classify(self, texts: list[str]) -> Classified: ...


def load(form: Form | str, folder: str | Path, max_length: int | None, threads: int = 0,
         spinning: bool = True) -> TextClassifier:
    """The classifier for `form` (a textslim.forms.Form or its name) of the model in `folder`, reading at most
    max_length tokens (None: the model's own limit). threads: ONNX Runtime's intra-op threads (0: every core);
    PyTorch's count is process-wide (torch.set_num_threads), and scikit-learn runs on one. spinning: see
    ort_session."""
    form = form if isinstance(form, Form) else form_named(form)
    if form.runtime == "pytorch":
        return TorchClassifier(folder, max_length)
    if form.runtime == "onnxruntime":
        return OnnxClassifier(folder, form.file, max_length, threads, spinning)
    return SklearnClassifier(Path(folder) / form.file)


_NO_LIMIT = 1_000_000  # tokenizers without a configured limit report a sentinel around 1e30: no real limit
_FALLBACK_MAX_LENGTH = 512


def own_max_length(tokenizer, config) -> int:
    """The longest input the model accepts: the tokenizer's limit capped by the position embeddings."""
    limits = [int(tokenizer.model_max_length)] if tokenizer.model_max_length < _NO_LIMIT else []
    if getattr(config, "max_position_embeddings", None):
        limits.append(int(config.max_position_embeddings))
    return min(limits) if limits else _FALLBACK_MAX_LENGTH


# tokenizers.Encoding's attribute for each model input name the HF call returns
_ENCODING_FIELDS = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}


def raw_encoder(tokenizer, max_length: int):
    """A copy of a fast tokenizer's Rust tokenizer (the `tokenizers` library) set to pad to the longest text of a
    call and cut at max_length, as `tokenizer(texts, padding=True, truncation=True, max_length=...)` does: the same
    ids, masks and overflow (tests/test_forms.py). Written by hand because the HF call re-applies those settings to
    the Rust tokenizer and converts its output on every call: measured on the MiniLM tokenizer, 0.11 ms a text at
    batch 1 against 0.06 ms for this. None for a slow (Python) tokenizer or one without a pad token."""
    if not getattr(tokenizer, "is_fast", False) or tokenizer.pad_token is None:
        return None
    from tokenizers import Tokenizer

    encoder = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    # The HF call's settings: longest_first, stride 0, its own truncation and padding sides, no multiple.
    encoder.enable_truncation(max_length, strategy="longest_first", direction=tokenizer.truncation_side)
    encoder.enable_padding(direction=tokenizer.padding_side, pad_id=tokenizer.pad_token_id,
                           pad_type_id=tokenizer.pad_token_type_id, pad_token=tokenizer.pad_token)
    encoder.encode_special_tokens = False  # special tokens written in a text stay special, as in the HF call
    return encoder


class _Tokenized:
    """What the transformer classifiers share: the tokenizer call, its token counts, the labels in class-id order."""

    tokenizer = None
    config = None
    max_length = 0
    tensors = "np"
    raw_encoding = True  # numpy inputs from the Rust tokenizer directly (raw_encoder); False: the HF call

    def _limit(self, max_length: int | None) -> int:
        return max_length if max_length is not None else own_max_length(self.tokenizer, self.config)

    @property
    def labels(self) -> list[str]:
        return [str(self.config.id2label[i]) for i in range(int(self.config.num_labels))]

    def encode(self, texts: list[str]):
        """The model inputs for texts, padded to the longest and cut at max_length, with each text's encoding."""
        encoder = self._raw_encoder() if self.tensors == "np" and self.raw_encoding else None
        if encoder is None:
            return self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                                  return_tensors=self.tensors)
        encodings = encoder.encode_batch(texts)
        fields = {name: np.array([getattr(e, _ENCODING_FIELDS[name]) for e in encodings], dtype=np.int64)
                  for name in self.tokenizer.model_input_names if name in _ENCODING_FIELDS}
        return BatchEncoding(fields, encoding=encodings)

    def _raw_encoder(self):
        """The fast tokenizer's own Rust tokenizer, set once to pad to the longest text and cut at max_length; rebuilt
        when max_length changes (the server caps it after loading). None for a slow (Python) tokenizer."""
        if getattr(self, "_raw", (None, None))[0] != self.max_length:
            self._raw = (self.max_length, raw_encoder(self.tokenizer, self.max_length))
        return self._raw[1]

    def _forward(self, batch) -> np.ndarray:
        raise NotImplementedError

    def logits(self, texts: list[str]) -> np.ndarray:
        return self._forward(self.encode(texts))

    def classify(self, texts: list[str]) -> Classified:
        started = time.perf_counter()
        batch = self.encode(texts)
        encoded = time.perf_counter()
        logits = self._forward(batch)
        done = time.perf_counter()
        n_tokens = [int(n) for n in np.asarray(batch["attention_mask"]).sum(axis=1)]
        if batch.encodings is not None:  # fast tokenizers keep what truncation cut off
            truncated = [bool(encoding.overflowing) for encoding in batch.encodings]
        else:  # slow ones only show that the limit was reached
            truncated = [n >= self.max_length for n in n_tokens]
        return Classified(logits, n_tokens, truncated, (encoded - started) * 1000, (done - encoded) * 1000)


class TorchClassifier(_Tokenized):
    """A saved transformers classifier, run in fp32 on the CPU."""

    tensors = "pt"

    def __init__(self, model_dir: str | Path, max_length: int | None, model=None, tokenizer=None):
        self.tokenizer = tokenizer or AutoTokenizer.from_pretrained(model_dir)
        self.model = (model or load_torch_model(model_dir)).to("cpu").eval()
        self.config = self.model.config
        self.max_length = self._limit(max_length)

    @torch.inference_mode()
    def _forward(self, batch) -> np.ndarray:
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


ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def graph_inputs(batch, input_names: list[str]) -> dict[str, np.ndarray]:
    """A graph's int64 inputs from a tokenizer batch. A graph input the tokenizer does not give can only be
    token_type_ids (DistilBERT-like tokenizers omit it): one segment, zeros."""
    return {name: np.asarray(batch[name] if name in batch else np.zeros_like(batch["input_ids"]), dtype=np.int64)
            for name in input_names}


class OnnxClassifier(_Tokenized):
    """An exported transformers classifier (model.onnx or model_quantized.onnx beside its tokenizer)."""

    def __init__(self, model_dir: str | Path, model_file: str, max_length: int | None, threads: int = 0,
                 spinning: bool = True):
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.config = AutoConfig.from_pretrained(model_dir)
        self.session = ort_session(Path(model_dir) / model_file, threads, spinning)
        self.input_names = [i.name for i in self.session.get_inputs()]
        unknown = sorted(set(self.input_names) - set(ONNX_INPUTS))
        outputs = [o.name for o in self.session.get_outputs()]
        if unknown or "logits" not in outputs:
            raise TextslimError(f"{model_dir}/{model_file}: a text classifier graph takes {', '.join(ONNX_INPUTS)} "
                                f"and gives logits; this one takes {self.input_names} and gives {outputs}")
        self.max_length = self._limit(max_length)

    def _forward(self, batch) -> np.ndarray:
        return self.session.run(["logits"], graph_inputs(batch, self.input_names))[0]


class SklearnClassifier:
    """A scikit-learn text pipeline; its decision scores stand in for logits."""

    def __init__(self, model_path: str | Path):
        import joblib

        self.pipeline = joblib.load(model_path)

    def logits(self, texts: list[str]) -> np.ndarray:
        return self.pipeline.predict_proba(texts)

    def classify(self, texts: list[str]) -> Classified:
        """Its tokens are the vectorizer's (words or n-grams, however many a text has): nothing is cut. Vectorizing
        is part of its model call (inference_ms)."""
        analyze = self.pipeline.steps[0][1].build_analyzer()
        started = time.perf_counter()
        logits = self.logits(texts)
        return Classified(logits, [len(analyze(text)) for text in texts], [False] * len(texts), 0.0,
                          (time.perf_counter() - started) * 1000)


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
