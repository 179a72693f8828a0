"""Stage quantize@S: dynamic INT8 quantization of the ONNX student with ONNX Runtime (via optimum)."""

import argparse
import logging
import shutil
from pathlib import Path

from textslim.atomic import atomic_dir, write_json
from textslim.cli import run_stage
from textslim.params import load_params
from textslim.quantize import quantize_dynamic, resolve_preset

log = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--model", required=True, help="directory holding model.onnx")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    requested = load_params(args.params).quantize.preset
    preset = resolve_preset(requested)
    with atomic_dir(args.out) as tmp:
        path = quantize_dynamic(args.model, tmp, preset)
        for extra in Path(args.model).iterdir():  # tokenizer, config and earlier stages' reports travel along
            if extra.suffix in (".json", ".txt") and not (tmp / extra.name).exists():
                shutil.copy(extra, tmp / extra.name)
        write_json(tmp / "quantize.json", {"preset": preset, "requested": requested, "mode": "dynamic",
                                           "weights": "int8"})
    size = (Path(args.out) / path.name).stat().st_size
    log.info("quantized %s -> %s/%s (%.1f MB), preset %s (%s)", args.model, args.out, path.name, size / 1e6, preset,
             "detected from the CPU" if requested == "auto" else "from params")


if __name__ == "__main__":
    run_stage(main)
