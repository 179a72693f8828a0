"""What the prune stage does to a student: trim its vocabulary, prune it, and let it recover by distillation.

Structured pruning and vocabulary trimming know the transformer encoders the layer-subset, pretrained and LoRA
students are made of (BERT and MPNet). Our own model types (the BiLSTM, whose word vocabulary is already the
training texts', and SetFit, whose encoder sits inside its own config) get unstructured pruning instead, and the
report says so.
"""

import copy
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from textslim.atomic import write_json
from textslim.compress.structured import alive_heads, encoder_layers, importance_scores, prune_structured
from textslim.compress.unstructured import global_magnitude_prune, sparsity_report
from textslim.compress.vocab import trim_vocabulary, uncovered_fraction
from textslim.corpora import read_texts
from textslim.forms import SIDE_REPORTS, read_student_record, write_student_record
from textslim.inference import load_torch_model
from textslim.params import Params, PruneParams, TrainParams
from textslim.train.loop import tokenize_frame, train_classifier
from textslim.train.losses import LossWeights

log = logging.getLogger(__name__)
TRANSFORMER_TYPES = ("bert", "mpnet")  # the encoders head/neuron surgery and vocabulary trimming apply to


def _extra_texts(sources: tuple[str, ...]) -> list[str]:
    """prune.extra_vocabulary's texts: each built-in corpus's, each text file's lines."""
    texts = []
    for source in sources:
        if source.startswith("builtin:"):
            texts += read_texts(source, "text", "prune.extra_vocabulary")
        else:
            texts += [line for line in Path(source).read_text().splitlines() if line.strip()]
    return texts


def recover(model, tokenizer, splits: dict[str, pd.DataFrame], teacher_logits: dict[str, np.ndarray],
            cfg: PruneParams, kd: LossWeights, max_length: int, seed: int, unpruned=None) -> list[dict]:
    """A short distillation from the teacher's logits through the one training loop; returns its eval log.

    With cfg.recovery_hidden_weight > 0, each layer's hidden states are also pulled towards the same layer's in
    `unpruned` (the student before pruning, same vocabulary and hidden size): CoFi's layer distillation, which
    tells the pruned layers what they used to compute rather than only what the final logits should be.
    """
    train = TrainParams(epochs=cfg.recovery_epochs, learning_rate=cfg.recovery_learning_rate,
                        head_learning_rate=cfg.recovery_learning_rate, max_length=max_length)
    layer_map = None
    if cfg.recovery_hidden_weight:
        kd = replace(kd, hidden=cfg.recovery_hidden_weight)
        layer_map = list(range(len(encoder_layers(model))))
    return train_classifier(
        model, tokenizer, tokenize_frame(splits["train"], tokenizer, max_length, teacher_logits["train"]),
        tokenize_frame(splits["validation"], tokenizer, max_length, teacher_logits["validation"]), train, seed,
        loss_weights=kd, teacher=unpruned, layer_map=layer_map)


def step_fractions(cfg: PruneParams, step: int, heads: tuple[int, int], ffn: tuple[int, int]) -> tuple[float, float]:
    """The fractions of the heads and FFN neurons still there that step `step` of cfg.steps removes, given (at the
    start, left now) for each: equal steps, the last of which leaves exactly what a one-shot prune would (the same
    rounding as heads_to_prune's removed count and prune_ffn's kept count)."""
    (heads_total, heads_left), (size_total, size_left) = heads, ffn
    share = step / cfg.steps
    heads_removed = heads_total - heads_left
    return ((round(heads_total * cfg.head_fraction * share) - heads_removed) / heads_left,
            1 - round(size_total * (1 - cfg.ffn_fraction * share)) / size_left)


def prune_in_steps(model, tokenizer, splits: dict[str, pd.DataFrame], teacher_logits: dict[str, np.ndarray],
                   cfg: PruneParams, kd: LossWeights, max_length: int, seed: int) -> dict:
    """Structured pruning in cfg.steps equal steps, each scored on the model as the step before left it and followed
    by its own recovery; returns the report's "structured" (first state to last) and "recovery" (every epoch's eval
    log, step after step) parts. Gradual pruning lets the recovery repair a little damage at a time, and the later
    scores see what the earlier removals changed."""
    layers = encoder_layers(model)
    heads_total = sum(len(alive_heads(layer, model.config.num_attention_heads)) for layer in layers)
    size_total = model.config.intermediate_size
    order = np.random.default_rng(seed).permutation(len(splits["train"]))[:cfg.importance_texts]
    sample = splits["train"].iloc[order]
    # The student as it was, for the recovery's layer loss: after trimming, so both read the same token ids.
    unpruned = copy.deepcopy(model) if cfg.recovery_epochs and cfg.recovery_hidden_weight else None
    done, history = [], []
    for step in range(1, cfg.steps + 1):
        scores = importance_scores(model, tokenizer, sample["text"].tolist(), sample["label"].tolist(), max_length,
                                   max_batches=len(order), teacher_logits=torch.from_numpy(
                                       teacher_logits["train"][order]))
        heads_left = sum(len(alive_heads(layer, model.config.num_attention_heads)) for layer in layers)
        fractions = step_fractions(cfg, step, (heads_total, heads_left), (size_total, model.config.intermediate_size))
        done.append(prune_structured(model, *fractions, scores))
        if cfg.recovery_epochs:
            history += recover(model, tokenizer, splits, teacher_logits, cfg, kd, max_length, seed, unpruned)
    structured = {**done[-1], "heads_before": done[0]["heads_before"],
                  "intermediate_size_before": size_total, "params_before": done[0]["params_before"],
                  "pruned_heads": {layer: sorted(heads) for layer, heads in model.config.pruned_heads.items()}}
    if cfg.steps > 1:
        structured["steps"] = done
    return {"structured": structured, **({"recovery": history} if cfg.recovery_epochs else {})}


def compress_student(model, tokenizer, splits: dict[str, pd.DataFrame], teacher_logits: dict[str, np.ndarray],
                     cfg: PruneParams, kd: LossWeights, max_length: int, seed: int):
    """Vocabulary trimming, then pruning by cfg.method, then recovery; returns the model, tokenizer and a report."""
    transformer = model.config.model_type in TRANSFORMER_TYPES
    method = cfg.method if transformer or cfg.method != "structured" else "unstructured"
    report: dict = {"method": method, "requested_method": cfg.method,
                    "params_before": sum(p.numel() for p in model.parameters())}
    # Where a lever does not know this model type, one line names the fallback (in the log and the report).
    known, notes = ", ".join(TRANSFORMER_TYPES), []
    if method != cfg.method:
        notes.append(f"structured pruning knows {known} encoders, not {model.config.model_type}: pruned "
                     "unstructured (prune.amount) instead")
    if cfg.vocabulary == "training" and not transformer:
        notes.append(f"vocabulary trimming knows {known} tokenizers, not {model.config.model_type}: vocabulary kept "
                     "whole")
    if notes:
        report["note"] = "; ".join(notes)
        log.warning("prune: %s", report["note"])

    if cfg.vocabulary == "training" and transformer:
        before = tokenizer
        texts = splits["train"]["text"].tolist()
        model, tokenizer, report["vocabulary"] = trim_vocabulary(model, tokenizer, texts,
                                                                 _extra_texts(cfg.extra_vocabularies), max_length)
        kept = before.convert_tokens_to_ids(list(tokenizer.get_vocab()))  # the kept entries' ids before trimming
        # Such texts are spelled out in smaller pieces than before: what trimming can cost is measured on them.
        for split in ("validation", "test"):
            report["vocabulary"][f"{split}_texts_with_dropped_tokens"] = round(
                uncovered_fraction(before, kept, splits[split]["text"].tolist()), 4)
        report["vocabulary"]["trimmed_to_texts"] = len(texts)  # the whole transfer set: unlabelled texts included

    if method == "structured":
        report.update(prune_in_steps(model, tokenizer, splits, teacher_logits, cfg, kd, max_length, seed))
    elif method == "unstructured":
        global_magnitude_prune(model, cfg.amount)
    report.update(sparsity_report(model))
    return model, tokenizer, report


def prune_folder(student_dir: str | Path, out_dir: str | Path, params: Params, splits: dict[str, pd.DataFrame],
                 teacher_logits: dict[str, np.ndarray]) -> dict:
    """The prune stage's work, for the stage and every study alike: the student in student_dir compressed by
    params.prune (compress_student, with the distill section's KD weights and seed) and saved into out_dir with its
    tokenizer, its student record and sparsity.json, which it returns."""
    from transformers import AutoTokenizer, set_seed

    set_seed(params.distill.seed)
    record = read_student_record(student_dir)
    kd = LossWeights.from_alpha(params.distill.alpha, params.distill.temperature)
    model, tokenizer, report = compress_student(
        load_torch_model(student_dir), AutoTokenizer.from_pretrained(student_dir), splits, teacher_logits,
        params.prune, kd, record["max_length"], params.distill.seed)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    write_student_record(out_dir, record)
    write_json(Path(out_dir) / SIDE_REPORTS["sparsity"], report)
    return report
