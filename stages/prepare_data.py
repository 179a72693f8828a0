"""Stage prepare_data: read the source, clean it, split it, write data/prepared/ and the data report."""

import argparse
import logging

from textslim.atomic import atomic_dir, write_json
from textslim.cli import run_stage
from textslim.data import write_prepared
from textslim.data_report import build_report, length_stats, load_tokenizer, token_lengths
from textslim.params import load_params
from textslim.sources import clean_counted, encode_labels, load_source, split_with_unlabelled, unlabelled_at

log = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", required=True)
    parser.add_argument("--report-out", required=True)
    args = parser.parse_args()

    params = load_params(args.params)
    source = load_source(params.data)
    frame, drops = clean_counted(source)
    parts, unlabelled, too_small = split_with_unlabelled(frame, params.data, params.seed)
    splits, labels = encode_labels(parts)
    # How much of each split the teacher's max_length cuts, measured with the teacher's own tokenizer.
    tokenizer = load_tokenizer(params.teacher.model, key="teacher.model")
    max_length = params.teacher.max_length
    tokens = {"tokenizer": params.teacher.model, "max_length": max_length,
              "splits": {name: length_stats(token_lengths(part["text"].tolist(), tokenizer), max_length)
                         for name, part in parts.items()}}
    report = build_report(params.data.source, len(source), drops, len(frame), parts, labels, tokens,
                          few_shot=params.data.shots_per_class is not None, missing_label_at=unlabelled_at(source),
                          unlabelled=len(unlabelled), source_notes=source.attrs, too_small=too_small)
    with atomic_dir(args.out) as tmp:
        write_prepared(splits, labels, tmp, unlabelled)
        write_json(args.report_out, report)  # inside the block: a failure here leaves the old data in place
    sizes = ", ".join(f"{name} {len(part)}" for name, part in splits.items())
    cut = ", ".join(f"{name} {100 * s['share_over_max_length']:.1f}%" for name, s in tokens["splits"].items())
    log.info("prepared %s: %s%s; classes %s; over %d tokens: %s", params.data.source, sizes,
             f", {len(unlabelled)} unlabelled transfer texts" if unlabelled else "", labels, max_length, cut)


if __name__ == "__main__":
    run_stage(main)
