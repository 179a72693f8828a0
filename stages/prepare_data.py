"""Stage prepare_data: read the source, clean it, split it, write data/prepared/."""

import argparse
import logging

from textslim.atomic import atomic_dir
from textslim.cli import run_stage
from textslim.data import clean, encode_labels, load_source, split, write_prepared
from textslim.params import load_params

log = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", default="data/prepared")
    args = parser.parse_args()

    params = load_params(args.params)
    frame = clean(load_source(params.data))
    splits, labels = encode_labels(split(frame, params.data, params.seed))
    with atomic_dir(args.out) as tmp:
        write_prepared(splits, labels, tmp)
    sizes = ", ".join(f"{name} {len(part)}" for name, part in splits.items())
    log.info("prepared %s: %s; classes %s", params.data.source, sizes, labels)


if __name__ == "__main__":
    run_stage(main)
