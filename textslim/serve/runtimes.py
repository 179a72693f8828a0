"""Model runtimes for the server: quantized ONNX students in onnxruntime, the teacher in PyTorch."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from textslim.errors import TextslimError

# One lock for every model. On this 2-core box each runtime already uses all cores (intra-op threads), so two
# inferences at once only thrash each other and inflate the latency we report; fast tokenizers are also not safe to
# call from several threads at once (RuntimeError "Already borrowed"). The server already runs every call on one
# inference thread (requests wait in their model's batcher); the lock keeps any other caller in line too.
_INFERENCE_LOCK = threading.Lock()

ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_DEFAULT_LABEL = re.compile(r"^LABEL_\d+$")
# Tokenizers without a configured limit report a sentinel around 1e30; such a number is no real limit.
_NO_LIMIT = 1_000_000
_FALLBACK_MAX_LENGTH = 512


@dataclass(frozen=True)
class BatchResult:
    """The outcome of one batched call: class probabilities per text and the measured times."""

    probs: np.ndarray  # shape (n_texts, n_labels), float64, rows sum to 1
    n_tokens: list[int]  # tokens per text after truncation, special tokens included
    truncated: list[bool]  # whether the text was cut at max_length
    inference_ms: float  # the model call only: no tokenization, no HTTP
    tokenize_ms: float


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 so probabilities sum to 1 well within 1e-5."""
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _model_labels(config: Any, fallback: list[str]) -> list[str]:
    """Labels in class-id order from config.id2label; the summary's labels when the config only has LABEL_i."""
    n = int(config.num_labels)
    labels = [str(config.id2label[i]) for i in range(n)]
    # An export that forgot id2label carries transformers' placeholders; the summary then knows the real names.
    if all(_DEFAULT_LABEL.match(label) for label in labels) and len(fallback) == n:
        return list(fallback)
    return labels


def _max_length(tokenizer: Any, config: Any) -> int:
    """The longest input the model accepts: the tokenizer's limit capped by the position embeddings."""
    limits = [int(tokenizer.model_max_length)] if tokenizer.model_max_length < _NO_LIMIT else []
    if getattr(config, "max_position_embeddings", None):
        limits.append(int(config.max_position_embeddings))
    return min(limits) if limits else _FALLBACK_MAX_LENGTH


class Runtime:
    """Tokenizer + labels shared by both runtimes; subclasses supply the forward pass."""

    runtime = "base"

    def __init__(
        self, name: str, model_dir: Path, form: str, fallback_labels: list[str], max_length: int | None = None
    ) -> None:
        """Load the tokenizer and config.json from model_dir; max_length (the pipeline's) caps the model's own."""
        from transformers import AutoConfig, AutoTokenizer

        import textslim.architectures  # noqa: F401  (our model types registered, pruned MPNet fixed)

        self.name = name
        self.form = form
        self.model_dir = model_dir
        try:
            self.config = AutoConfig.from_pretrained(model_dir, local_files_only=True)
            self.tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        except (OSError, ValueError) as err:
            raise TextslimError(f"model {name!r}: cannot load config/tokenizer from {model_dir}: {err}") from err
        self.labels = _model_labels(self.config, fallback_labels)
        own = _max_length(self.tokenizer, self.config)
        # Serve at the sequence length the pipeline measured with, so the summary's figures describe what runs here.
        self.max_length = min(max_length, own) if max_length else own

    def _logits(self, encoded: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def predict(self, texts: list[str]) -> BatchResult:
        """Classify a batch in one model call; texts longer than max_length are truncated, not rejected."""
        with _INFERENCE_LOCK:
            t0 = time.perf_counter()
            batch = self.tokenizer(
                texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="np"
            )
            t1 = time.perf_counter()
            logits = self._logits(dict(batch))
            t2 = time.perf_counter()
        n_tokens = [int(n) for n in batch["attention_mask"].sum(axis=1)]
        if batch.encodings is not None:
            # Fast tokenizers keep what truncation cut off; slow ones only let us see that the limit was reached.
            truncated = [bool(enc.overflowing) for enc in batch.encodings]
        else:
            truncated = [n >= self.max_length for n in n_tokens]
        return BatchResult(
            probs=softmax(np.asarray(logits)),
            n_tokens=n_tokens,
            truncated=truncated,
            inference_ms=(t2 - t1) * 1000.0,
            tokenize_ms=(t1 - t0) * 1000.0,
        )

    def warm_up(self) -> None:
        """Run one tiny batch so the first client request does not pay for lazy allocations."""
        self.predict(["warm up"])


class OnnxRuntime(Runtime):
    """An ONNX model in one onnxruntime.InferenceSession, created once."""

    runtime = "onnxruntime"

    def __init__(
        self,
        name: str,
        model_dir: Path,
        model_file: Path,
        form: str,
        threads: int,
        fallback_labels: list[str],
        max_length: int | None = None,
    ) -> None:
        """Open the session with intra_op threads = the pipeline's benchmark threads."""
        from textslim.inference import ort_session

        super().__init__(name, model_dir, form, fallback_labels, max_length)
        try:
            # Requests are serialized (see _INFERENCE_LOCK); idle pool threads must not spin and take the cores
            # that the event loop, the tokenizer and the next request need on a small machine.
            self.session = ort_session(model_file, threads, spinning=False)
        except Exception as err:  # onnxruntime raises its own Fail/InvalidGraph types
            raise TextslimError(f"model {name!r}: cannot open {model_file}: {err}") from err
        self.input_names = [i.name for i in self.session.get_inputs()]
        unknown = sorted(set(self.input_names) - set(ONNX_INPUTS))
        if unknown:
            raise TextslimError(f"model {name!r}: {model_file} wants inputs this server cannot feed: {unknown}")
        outputs = [o.name for o in self.session.get_outputs()]
        if "logits" not in outputs:
            raise TextslimError(f"model {name!r}: {model_file} has no 'logits' output (outputs: {outputs})")

    def _logits(self, encoded: dict[str, np.ndarray]) -> np.ndarray:
        feed = {}
        for name in self.input_names:
            if name in encoded:
                feed[name] = encoded[name].astype(np.int64, copy=False)
            else:
                # Only token_type_ids can be missing (tokenizers of DistilBERT-like models omit it): one segment.
                feed[name] = np.zeros_like(encoded["input_ids"], dtype=np.int64)
        return self.session.run(["logits"], feed)[0]


class TorchRuntime(Runtime):
    """A transformers model run in PyTorch fp32 under torch.inference_mode."""

    runtime = "pytorch"

    def __init__(
        self,
        name: str,
        model_dir: Path,
        form: str,
        threads: int,
        fallback_labels: list[str],
        max_length: int | None = None,
    ) -> None:
        """Load AutoModelForSequenceClassification from model_dir in eval mode."""
        import torch
        from transformers import AutoModelForSequenceClassification

        super().__init__(name, model_dir, form, fallback_labels, max_length)
        # Process-wide setting, like the pipeline's benchmark: the teacher gets the same cores as the students.
        torch.set_num_threads(threads)
        try:
            model = AutoModelForSequenceClassification.from_pretrained(model_dir, local_files_only=True)
        except (OSError, ValueError) as err:
            raise TextslimError(f"model {name!r}: cannot load weights from {model_dir}: {err}") from err
        self.model = model.eval()

    def _logits(self, encoded: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            tensors = {k: torch.from_numpy(v.astype(np.int64, copy=False)) for k, v in encoded.items()}
            return self.model(**tensors).logits.float().numpy()
