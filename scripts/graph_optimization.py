"""Measure optimum's ONNX Runtime graph optimization levels on one exported student, before and after INT8.

For each level of `export_onnx.optimization` (none, O1, O2, O3): optimize a copy of the exported graph, check its
logits against the PyTorch model it came from, quantize it the pipeline's way, and score both graphs on the test
split; then time every graph interleaved in one process (batch 1 and batch 32), like the compare stage. This is how
that param's default was chosen.

    python scripts/graph_optimization.py --out reports/graph-optimization.md \\
        --case "spread (MiniLM, BERT-style)" models/pruned/spread.heavy models/onnx/spread.heavy \\
        --case "spread (MPNet)" /tmp/mpnet/pruned /tmp/mpnet/onnx
"""

import argparse
import shutil
import tempfile
from pathlib import Path

import onnx

from textslim.compress.onnx_export import optimize_graph, parity
from textslim.compress.quantize import quantize_folder, resolve_preset
from textslim.data import read_prepared
from textslim.errors import TextslimError
from textslim.forms import ONNX_FP32, ONNX_INT8, read_student_record
from textslim.measure.study import markdown, measure, variant
from textslim.params import ExportParams, load_params


def op_summary(path: Path) -> str:
    """The fused ops a graph holds (what an optimization level changed), as a short list."""
    types = {node.op_type for node in onnx.load(str(path)).graph.node}
    fused = sorted(t for t in types if t in ("Attention", "SkipLayerNormalization", "EmbedLayerNormalization",
                                              "FastGelu", "BiasGelu", "Gelu", "LayerNormalization", "QAttention",
                                              "DynamicQuantizeMatMul", "MatMulIntegerToFloat"))
    return ", ".join(fused) or "none"


def measure_case(label: str, model: Path, onnx_dir: Path, params, splits, labels, latency_texts: int) -> str:
    """One model's section of the report: every level's parity, fused ops, accuracy and speed, fp32 and INT8."""
    test = splits["test"]
    max_length = read_student_record(onnx_dir)["max_length"]
    preset = resolve_preset(params.quantize.preset)
    texts = test["text"].head(params.export_onnx.parity_texts).tolist()
    variants, notes = {}, []
    with tempfile.TemporaryDirectory() as scratch:
        for level in ExportParams.OPTIMIZATION_LEVELS:
            fp32_dir, int8_dir = Path(scratch) / level, Path(scratch) / f"{level}-int8"
            shutil.copytree(onnx_dir, fp32_dir)
            done = optimize_graph(fp32_dir, level)
            try:
                check = parity(model, fp32_dir, texts, max_length, params.export_onnx.tolerance)
            except TextslimError as err:  # a level that breaks the model is a finding, not a crash
                notes.append(f"- `{level}` ({done}): **parity failed**, not measured: {err}.")
                continue
            quantize_folder(fp32_dir, int8_dir, params.quantize, splits["train"]["text"].tolist(), params.seed,
                            validation=splits["validation"])
            variants[f"{level} fp32"] = variant(ONNX_FP32, fp32_dir, max_length)
            variants[f"{level} int8"] = variant(ONNX_INT8, int8_dir, max_length)
            notes.append(f"- `{level}` ({done}): max |ONNX − PyTorch| {check['max_abs_diff']:.1e} on {len(texts)} "
                         f"test texts; fused ops in the file: fp32 {op_summary(fp32_dir / 'model.onnx')}; int8 "
                         f"{op_summary(int8_dir / 'model_quantized.onnx')}.")
        table = markdown(measure(variants, test, labels, latency_texts))
    return (f"## {label}\n\nFrom `{onnx_dir}` (exported from `{model}`); INT8: {params.quantize.mode}, "
            f"preset `{preset}`, "
            f"{'per-channel' if params.quantize.per_channel else 'per-tensor'}. Test split ({len(test)} texts); "
            f"batch-1 latency over {latency_texts} test texts and texts/s at batch 32, every graph of this model "
            "timed interleaved in one process; ratios against the unoptimized fp32 graph.\n\n"
            f"{table}\n\n" + "\n".join(notes) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", nargs=3, action="append", required=True, metavar=("LABEL", "MODEL", "ONNX"),
                        help="a model to measure: its label, the PyTorch model and its export (optimization none)")
    parser.add_argument("--data", default="data/prepared")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--latency-texts", type=int, default=200)
    parser.add_argument("--out", required=True, type=Path, help="the markdown report to write")
    args = parser.parse_args()

    params = load_params(args.params)
    splits, labels = read_prepared(args.data)
    sections = [measure_case(label, Path(model), Path(onnx_dir), params, splits, labels, args.latency_texts)
                for label, model, onnx_dir in args.case]
    report = ("# Graph optimization levels, measured\n\n`export_onnx.optimization` runs optimum's ORTOptimizer on "
              "the exported graph before quantization. ONNX Runtime applies its own fusions again when it loads any "
              "graph, so a level pays only where it finds more.\n\n" + "\n".join(sections))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
