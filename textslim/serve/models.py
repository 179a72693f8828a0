"""The served models: the teacher and every INT8 student of the last pipeline run, each opened by
textslim.inference.load (the loader evaluate and compare use: one inference stack), with the labels and the sequence
length the server answers with."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from textslim.errors import TextslimError
from textslim.forms import FORMS, ONNX_INT8, TEACHER, Form, model_folder

log = logging.getLogger(__name__)
SERVED_FORMS = {TEACHER.name, ONNX_INT8.name}  # the teacher (PyTorch) and the INT8 students
_DEFAULT_LABEL = re.compile(r"^LABEL_\d+$")


@dataclass(frozen=True)
class BatchResult:
    """The outcome of one batched call: class probabilities per text and the measured times."""

    probs: np.ndarray  # shape (n_texts, n_labels), float64, rows sum to 1
    n_tokens: list[int]  # tokens per text after truncation, special tokens included
    truncated: list[bool]  # whether the text was cut at max_length
    inference_ms: float  # the model call only: no tokenization, no HTTP
    tokenize_ms: float


class ServedModel:
    """One model as the server runs it. Every call runs on the server's one inference thread (create_app)."""

    def __init__(self, name: str, form: Form, folder: Path, threads: int, fallback_labels: list[str],
                 max_length: int | None, batch1_threads: int | None = None) -> None:
        from textslim.inference import load  # torch, transformers and ONNX Runtime load with the first model

        self.name, self.form, self.runtime = name, form.name, form.runtime
        # PyTorch's thread count is process-wide, so only an ONNX Runtime model gets a session of its own for one text
        self.threads = {"batched": threads,
                        "batch1": batch1_threads if batch1_threads and form.runtime == "onnxruntime" else threads}
        if form.runtime == "pytorch":
            import torch

            torch.set_num_threads(threads)  # process-wide, like the pipeline's benchmark: the students' cores
        try:
            # Requests take turns (one inference thread); idle ONNX Runtime threads must not spin and take the cores
            # that the event loop, the tokenizer and the next request need on a small machine.
            self.classifier = load(form, folder, None, threads, spinning=False)
            # A call with one text runs on the session at the thread count compare timed fastest at batch 1 for this
            # model (load_models: batch1_threads); batches keep the main count, at which throughput was measured.
            self.single = self.classifier if self.threads["batch1"] == threads else \
                load(form, folder, None, self.threads["batch1"], spinning=False)
        except TextslimError as err:
            raise TextslimError(f"model {name!r}: {err}") from err
        except Exception as err:  # noqa: BLE001  a missing or broken file, in whichever library (ONNX Runtime's
            # errors for a truncated graph derive from Exception alone): one line, not a traceback
            raise TextslimError(f"model {name!r}: cannot load {form.name} from {folder}: "
                                f"{str(err).splitlines()[0] if str(err) else type(err).__name__}") from err
        own = self.classifier.max_length  # the model's own limit
        # Serve at the sequence length the pipeline measured with, so the summary's figures describe what runs here.
        self.max_length = self.classifier.max_length = self.single.max_length = \
            min(max_length, own) if max_length else own
        labels = self.classifier.labels
        # An export that forgot id2label carries transformers' placeholders; the summary then knows the real names.
        fallback = all(_DEFAULT_LABEL.match(label) for label in labels) and len(fallback_labels) == len(labels)
        self.labels = list(fallback_labels) if fallback else labels

    def predict(self, texts: list[str]) -> BatchResult:
        """Classify a batch in one model call; texts longer than max_length are truncated, not rejected."""
        result = (self.single if len(texts) == 1 else self.classifier).classify(texts)
        return BatchResult(result.probabilities(), result.n_tokens, result.truncated, result.inference_ms,
                           result.tokenize_ms)

    def warm_up(self) -> None:
        """Run one text and one tiny batch, so the first client request does not pay for lazy allocations in
        either session."""
        self.predict(["warm up"])
        self.predict(["warm up", "and up"])


# How much faster at batch 1 another thread count must have timed before a model gets a second session for it: less
# is within compare's run-to-run noise here, and would load the model twice for nothing.
BATCH1_THREADS_MARGIN = 0.05


def batch1_threads(variant: dict[str, Any], threads: int) -> int:
    """The thread count a one-text call runs at: the fastest of those compare timed at batch 1 for this variant
    (summary keys batch1_ms_threads<N>, every count in the same interleaved run), if it beat the main count by
    BATCH1_THREADS_MARGIN; otherwise, or without those figures, the main count. compare times sessions whose idle
    threads spin and the server's do not: a second thread's cost of waking is, if anything, larger here."""
    timed = {int(key.removeprefix("batch1_ms_threads")): value for key, value in variant.items()
             if key.startswith("batch1_ms_threads") and key.removeprefix("batch1_ms_threads").isdigit()
             and isinstance(value, (int, float)) and value > 0}
    timed = {n: ms for n, ms in timed.items() if n <= (os.cpu_count() or 1)}  # a summary from a bigger machine
    if threads not in timed:
        return threads
    best = min(timed, key=timed.get)
    return best if timed[best] < (1 - BATCH1_THREADS_MARGIN) * timed[threads] else threads


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON true is no thread count


def deployed_variant(deploy_path: Path, summary: dict[str, Any], explicit: bool = True) -> str | None:
    """The variant the select stage deployed (metrics/deploy.json), None when there is no such file. It must be a
    variant of the summary (both come from one pipeline run): an error when the file was named (explicit), and a
    warning and None when it was only found beside another run's summary."""
    if not deploy_path.is_file():
        if explicit:
            raise TextslimError(f"no select stage results at {deploy_path}")
        return None
    try:
        variant = json.loads(deploy_path.read_text(encoding="utf-8")).get("variant")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as err:
        raise TextslimError(f"cannot read {deploy_path}: {err}") from err
    names = [v.get("name") for v in summary["variants"] if isinstance(v, dict)]
    if variant not in names:
        message = f"{deploy_path} names variant {variant!r}, which the summary does not have"
        if explicit:
            raise TextslimError(f"{message}: re-run the select stage (dvc repro)")
        log.warning("%s (another run's?): requests naming no model get the summary's best student", message)
        return None
    return variant


def load_summary(summary_path: Path) -> dict[str, Any]:
    """Read and sanity-check metrics/summary.json."""
    if not summary_path.is_file():
        raise TextslimError(f"no pipeline results at {summary_path}: run `make repro` first")
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise TextslimError(f"cannot read {summary_path}: {err}") from err
    if not isinstance(summary, dict) or not isinstance(summary.get("variants"), list):
        raise TextslimError(f"{summary_path}: expected an object with a 'variants' list")
    threads = summary.get("threads", 1)
    if not (_is_int(threads) and 1 <= threads <= 256):
        raise TextslimError(f"{summary_path}: 'threads' must be an integer in 1..256, got {threads!r}")
    return summary


def load_models(summary: dict[str, Any], models: Path, forms: Collection[str] = SERVED_FORMS,
                also: Collection[str] = ()) -> dict[str, ServedModel]:
    """Every variant of the given forms (by default the teacher in PyTorch and every onnx-int8 student), and the
    variants named in `also` whatever their form (the select stage's pick), each loaded once from its folder under the
    models root (textslim.forms.model_folder: the summary names forms and students, never paths); create_app warms
    them up."""
    unservable = sorted(set(forms) - {name for name, form in FORMS.items() if form.runtime != "sklearn"})
    if unservable:
        raise TextslimError(f"cannot serve forms {unservable}: the server runs the transformer forms only")
    labels = [str(x) for x in summary.get("labels") or []]
    threads = summary.get("threads", 1)
    runtimes: dict[str, ServedModel] = {}
    for i, variant in enumerate(summary["variants"]):
        if not isinstance(variant, dict) or not isinstance(variant.get("name"), str):
            raise TextslimError(f"summary: variant #{i} has no name")
        name, form = variant["name"], variant.get("form")
        if not isinstance(form, str) or form not in FORMS or (form not in forms and name not in also):
            continue
        try:
            folder = model_folder(models, FORMS[form], variant.get("student"))
        except TextslimError as err:  # a name that would leave the models root ('..', a path)
            raise TextslimError(f"summary: variant {name!r}: {err}") from None
        if name in runtimes:
            raise TextslimError(f"summary: variant name {name!r} appears twice")
        # Optional: the sequence length the pipeline evaluated with; without it, the model's own limit.
        max_length = variant.get("max_length")
        if max_length is not None and not (_is_int(max_length) and max_length >= 2):
            raise TextslimError(f"summary: variant {name!r} max_length must be an integer >= 2, got {max_length!r}")
        log.info("loading %s (%s) from %s", name, form, folder)
        runtimes[name] = ServedModel(name, FORMS[form], folder, threads, labels, max_length,
                                     batch1_threads(variant, threads))
    if not runtimes:
        raise TextslimError(f"summary: no variant to serve (forms served: {', '.join(sorted(forms))})")
    return runtimes
