"""Stage prune@S-V: student S compressed as variant V says (compress.settings.V over the prune section): trim its
vocabulary, prune it (structured by default), and let it recover by KD."""

import argparse
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

from textslim.atomic import atomic_dir
from textslim.cli import run_stage
from textslim.compress.student import prune_folder
from textslim.data import read_prepared
from textslim.errors import TextslimError
from textslim.params import load_params
from textslim.train.transfer import augmented_texts, transfer_set, unlabelled_texts

log = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--variant", required=True, help="a compression variant named in compress.settings")
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--teacher-logits", required=True)
    parser.add_argument("--unlabelled", required=True, help="the label_unlabelled stage's texts and logits")
    parser.add_argument("--augmented", required=True, help="the augment stage's texts and logits")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    params = load_params(args.params)
    if args.variant not in params.compress.settings:
        raise TextslimError(f"--variant {args.variant!r}: no such compress.settings entry (known: "
                            f"{', '.join(params.compress.settings) or 'none'})")
    params = replace(params, prune=params.compress.prune_settings(params.prune, args.variant))
    splits, _ = read_prepared(args.data)
    logits = {name: np.load(Path(args.teacher_logits) / f"{name}.npy") for name in ("train", "validation")}
    # Trimming, importance and recovery see the whole transfer set distillation saw: the unlabelled texts (a few-shot
    # run's only bulk of text) and the augmented ones.
    unlabelled = {"unlabelled": unlabelled_texts(args.unlabelled), "augmented": augmented_texts(args.augmented)}
    splits["train"], logits["train"] = transfer_set(splits["train"], logits["train"], unlabelled)
    with atomic_dir(args.out) as tmp:
        report = prune_folder(args.model, tmp, params, splits, logits)
    log.info("pruned %s as variant %s (%s): %d -> %d parameters, encoder Linear sparsity %.4f", args.model,
             args.variant, report["method"], report["params_before"], report["params"], report["linear_sparsity"])


if __name__ == "__main__":
    run_stage(main)
