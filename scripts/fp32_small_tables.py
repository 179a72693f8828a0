"""fp32 graphs with 4-bit embedding tables: a form between ONNX fp32 and INT8, for CPUs whose fp32 GEMMs beat
dynamic INT8 at batch 1.

On the Intel Xeon (AVX-512 VNNI) of the committed default run, the `heavy` chains ran faster in fp32 (0.85 ms) than in
dynamic INT8 (0.96 ms) at batch 1, so the default budget (no size limit) deployed an fp32 graph of 51.8 MB where the
INT8 one is 9.9 MB. Most of that file is the word-embedding table, of which a call reads the ~20 rows its text looks
up. This study keeps every MatMul in fp32 and stores only the embedding tables at 4 bits (the pipeline's own
`quantize.embedding_bits: 4` step, textslim/compress/embedding_bits.py, applied to the fp32 graph instead of the INT8
one), and measures it beside the fp32 and INT8 forms of each chain: accuracy on validation (where the select stage
chooses) and test, size, and batch-1 latency and texts/s at batch 32, every graph timed interleaved in one process
like the compare stage; ratios against the PyTorch teacher.

    python scripts/fp32_small_tables.py --chains teacher lora.heavy spread.heavy spread.full \\
        --out reports/fp32-4bit-tables.md
"""

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from textslim.compress.embedding_bits import copy_at_opset, embeddings_to_4bit
from textslim.cpu import describe_cpu
from textslim.data import read_prepared
from textslim.forms import ONNX_FP32, ONNX_INT8, TEACHER, model_folder, read_student_record
from textslim.measure.evaluation import predict
from textslim.measure.study import markdown, measure, variant
from textslim.params import load_params

TABLES = "fp32 + 4-bit tables"


def small_tables(onnx_dir: Path, out_dir: Path, block_size: int) -> Path:
    """A copy of the fp32 export in onnx_dir with its embedding tables at 4 bits, every other weight fp32."""
    copy_at_opset(onnx_dir, out_dir)
    embeddings_to_4bit(out_dir / "model.onnx", block_size)
    return out_dir


def with_validation(table: str, accuracies: list[float]) -> str:
    """markdown()'s table (textslim.measure.study, test figures only) with a last column of validation accuracies (%),
    one per body row in order."""
    head, rule, *body = table.split("\n")
    if len(body) != len(accuracies):
        raise ValueError(f"{len(body)} table rows but {len(accuracies)} validation accuracies")
    return "\n".join([f"{head} validation |", f"{rule}:--|",
                      *(f"{line} {accuracy:.2f} |" for line, accuracy in zip(body, accuracies))])


def int8_forms(models: Path, chains: list[str]) -> str:
    """How each chain's INT8 form was quantized, from its quantize.json: 'teacher dynamic, 4-bit, ...; ...'."""
    records = {chain: json.loads((model_folder(models, ONNX_INT8, chain) / "quantize.json").read_text())
               for chain in chains}
    return "; ".join(f"{chain} {r['mode']}, {r['scales']} weights, embedding tables {r['embeddings']}"
                     for chain, r in records.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chains", nargs="+", required=True,
                        help="chains as named under models/onnx and models/quantized (teacher, spread.heavy, ...)")
    parser.add_argument("--models", default="models", type=Path)
    parser.add_argument("--data", default="data/prepared")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--latency-texts", type=int, default=200)
    parser.add_argument("--out", required=True, type=Path, help="the markdown report to write")
    args = parser.parse_args()

    params = load_params(args.params)
    splits, labels = read_prepared(args.data)
    block_size = params.quantize.embedding_block_size
    teacher_length = read_student_record(model_folder(args.models, ONNX_FP32, None))["max_length"]
    with tempfile.TemporaryDirectory() as scratch:
        variants = {"teacher (PyTorch fp32)": variant(TEACHER, model_folder(args.models, TEACHER, None),
                                                      teacher_length)}
        for chain in args.chains:
            onnx_dir = model_folder(args.models, ONNX_FP32, chain)
            max_length = read_student_record(onnx_dir)["max_length"]
            variants[f"{chain} fp32"] = variant(ONNX_FP32, onnx_dir, max_length)
            variants[f"{chain} {TABLES}"] = variant(ONNX_FP32, small_tables(onnx_dir, Path(scratch) / chain,
                                                                            block_size), max_length)
            variants[f"{chain} int8"] = variant(ONNX_INT8, model_folder(args.models, ONNX_INT8, chain), max_length)
        frame = measure(variants, splits["test"], labels, args.latency_texts)
        validation = splits["validation"]
        table = with_validation(markdown(frame), [
            100 * float(np.mean(predict(v.classifier, validation["text"].tolist(), 64) == validation["label"]))
            for v in variants.values()])
    cpu = describe_cpu()
    report = (f"# fp32 graphs with 4-bit embedding tables\n\n"
              f"`python scripts/fp32_small_tables.py --chains {' '.join(args.chains)}`, on the workspace's models "
              f"(`make repro`). CPU: {cpu['model']} (int8 path `{cpu['int8_path']}`), {torch.get_num_threads()} "
              f"threads. `{TABLES}`: the chain's fp32 export with its embedding tables stored as 4-bit blocks of "
              f"{block_size} (ONNX Runtime's GatherBlockQuantized), every MatMul fp32; `int8`: the pipeline's INT8 "
              f"form ({int8_forms(args.models, args.chains)}). accuracy: test split; validation: the split the "
              f"select stage reads. Batch-1 latency over {args.latency_texts} test texts, texts/s at batch 32, every "
              "graph timed interleaved in one process.\n\n" + table + "\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)


if __name__ == "__main__":
    main()
