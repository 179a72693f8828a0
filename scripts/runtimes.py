"""The runtime table: the same exported models on ONNX Runtime, OpenVINO and CTranslate2, fp32 and INT8, timed
interleaved in one process (reports/runtimes.md, metrics/runtimes.json).

For each chain named (the teacher, or a student's compression chain S.V), from what the pipeline wrote:
- ONNX Runtime fp32 (models/onnx/X) and INT8 (models/quantized/X: dynamic, the pipeline's own);
- OpenVINO fp32 (IR of the same ONNX graph) and INT8 (NNCF, static ranges from --calibration-texts training texts);
- CTranslate2 fp32 and INT8 weights, from the PyTorch folder (models/teacher or models/pruned/X; BERT, unpruned heads).
Columns: test accuracy (batch 64), predictions that change at batch 1, agreement with the model's ONNX Runtime fp32
graph, batch-1 latency (median over --latency-texts texts) and batch-32 time per text (median of 3 rounds over 512
texts), each against the arithmetic floor at this CPU's measured GEMM peaks (textslim.measure.roofline), and MB.

    python scripts/runtimes.py --chains teacher spread.full spread.heavy first.heavy --out reports/runtimes.md \\
        --metrics metrics/runtimes.json
"""

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from textslim.atomic import atomic_file, write_json
from textslim.cpu import describe_cpu
from textslim.data import read_prepared
from textslim.errors import TextslimError
from textslim.forms import ONNX_FP32, ONNX_INT8, PRUNED, TEACHER, model_folder, read_student_record
from textslim.inference import load
from textslim.measure.bench import benchmark
from textslim.measure.evaluation import SUPPORT_FILES, at_batch_one, deployed_bytes, predict
from textslim.measure.roofline import as_dict, floor_ms, matmul_peaks, median_tokens, work_per_text
from textslim.runtimes import (
    CTRANSLATE2_DIR,
    HEAD_FILE,
    OPENVINO_FILE,
    CTranslate2Classifier,
    OpenVinoClassifier,
    convert_to_ctranslate2,
    convert_to_openvino,
    quantize_openvino,
)

log = logging.getLogger("runtimes")
THROUGHPUT_TEXTS = 512
CTRANSLATE2_FILES = ("model.bin", "config.json", "vocabulary.json", "vocabulary.txt")


def _megabytes(folder: Path, model_files: list[str]) -> float:
    """What a deployment ships besides the tokenizer and config: the runtime's own files (textslim's deployed_bytes
    knows one model file, an OpenVINO IR and a CTranslate2 model have several)."""
    files = [folder / name for name in [*model_files, *SUPPORT_FILES]]
    return sum(f.stat().st_size for f in files if f.is_file()) / 1e6


def _torch_dir(chain: str, models: Path) -> Path:
    """The PyTorch model a chain's ONNX graph was exported from: what CTranslate2 converts, whose FLOPs count."""
    return model_folder(models, TEACHER, None) if chain == "teacher" else model_folder(models, PRUNED, chain)


def build_forms(chain: str, models: Path, work: Path, calibration: list[str], threads: int) -> tuple[dict, dict]:
    """chain's forms on every runtime: (runtime, precision) -> (classifier, MB), and the forms a runtime refused
    -> why."""
    onnx_dir = model_folder(models, ONNX_FP32, None if chain == "teacher" else chain)
    int8_dir = model_folder(models, ONNX_INT8, None if chain == "teacher" else chain)
    max_length = read_student_record(onnx_dir)["max_length"]
    forms = {("onnxruntime", "fp32"): (load(ONNX_FP32, onnx_dir, max_length, threads),
                                       deployed_bytes(onnx_dir, ONNX_FP32.file) / 1e6),
             ("onnxruntime", "int8"): (load(ONNX_INT8, int8_dir, max_length, threads),
                                       deployed_bytes(int8_dir, ONNX_INT8.file) / 1e6)}
    ov_fp32 = convert_to_openvino(onnx_dir, work / chain / "openvino-fp32")
    ov_int8 = quantize_openvino(ov_fp32, work / chain / "openvino-int8", calibration, max_length)
    for precision, folder in (("fp32", ov_fp32), ("int8", ov_int8)):
        forms["openvino", precision] = (OpenVinoClassifier(folder, max_length, threads),
                                        _megabytes(folder, [OPENVINO_FILE, "model.bin"]))
    refused = {}
    for precision, quantization in (("fp32", None), ("int8", "int8")):
        try:
            folder = convert_to_ctranslate2(_torch_dir(chain, models), work / chain / f"ctranslate2-{precision}",
                                            quantization)
        except TextslimError as err:
            refused["ctranslate2", precision] = str(err)
            continue
        files = [f"{CTRANSLATE2_DIR}/{name}" for name in CTRANSLATE2_FILES] + [HEAD_FILE]
        forms["ctranslate2", precision] = (CTranslate2Classifier(folder, max_length, threads),
                                           _megabytes(folder, files))
    return forms, refused


def floors(chain: str, models: Path, texts: list[str], classifier, peaks) -> dict[str, float]:
    """The arithmetic floor of one text (ms; per text at any batch size), fp32 and INT8: the same on every runtime,
    the model's arithmetic at the median test length at this CPU's measured GEMM peaks."""
    work = work_per_text(_torch_dir(chain, models), median_tokens(classifier.tokenizer, texts, classifier.max_length))
    return {precision: floor_ms(work, peaks, precision == "int8") for precision in ("fp32", "int8")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chains", nargs="+", required=True, help="teacher and/or compression chains (spread.full)")
    parser.add_argument("--models", default="models", type=Path)
    parser.add_argument("--data", default="data/prepared")
    parser.add_argument("--latency-texts", type=int, default=200)
    parser.add_argument("--calibration-texts", type=int, default=300,
                        help="training texts OpenVINO INT8 calibrates on")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--metrics", required=True, type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    started = time.monotonic()

    splits, labels = read_prepared(args.data)
    test, cpu, threads = splits["test"], describe_cpu(), torch.get_num_threads()
    texts, truth = test["text"].tolist(), test["label"].to_numpy()
    train = splits["train"]["text"]
    calibration = train.sample(min(args.calibration_texts, len(train)), random_state=0).tolist()
    # The int8 peak on the operand types the pipeline's INT8 models use (their quantize.json), as compare measures it
    quantized = json.loads((model_folder(args.models, ONNX_INT8, None) / "quantize.json").read_text())
    peaks = matmul_peaks(threads, operands=quantized)
    rows, refused_rows = [], []
    with tempfile.TemporaryDirectory(prefix="textslim-runtimes-") as tmp:
        variants, floor_of = {}, {}
        for chain in args.chains:
            log.info("%s: building the OpenVINO and CTranslate2 forms", chain)
            forms, refused = build_forms(chain, args.models, Path(tmp), calibration, threads)
            variants.update({(chain, *key): value for key, value in forms.items()})
            refused_rows += [{"model": chain, "runtime": runtime, "precision": precision, "why": why}
                             for (runtime, precision), why in refused.items()]
            floor_of[chain] = floors(chain, args.models, texts, forms["onnxruntime", "fp32"][0], peaks)
        timings = benchmark({key: {threads: clf} for key, (clf, _) in variants.items()}, texts[:args.latency_texts],
                            warmup=20, throughput_texts=texts[:THROUGHPUT_TEXTS], batch_sizes=[1, 32], rounds=3,
                            threads=threads)
        reference = {chain: predict(variants[chain, "onnxruntime", "fp32"][0], texts, batch_size=64)
                     for chain in args.chains}
        for (chain, runtime, precision), (classifier, megabytes) in variants.items():
            log.info("%s on %s %s: scoring the test split", chain, runtime, precision)
            predictions = predict(classifier, texts, batch_size=64)
            alone = at_batch_one(classifier, test, labels, predictions)
            timing = timings[chain, runtime, precision]
            batch1, batch32 = timing.batch1_ms_median, 1e3 / timing.texts_per_s_by_batch[32]
            floor = floor_of[chain][precision]
            rows.append({"model": chain, "runtime": runtime, "precision": precision,
                         "accuracy": float((predictions == truth).mean()),
                         "accuracy_batch1": alone["accuracy_batch1"], "flips_batch1_vs_64": alone["flips_vs_batched"],
                         "agrees_with_ort_fp32": float((predictions == reference[chain]).mean()),
                         "batch1_ms": batch1, "batch1_vs_floor": batch1 / floor, "batch32_ms_per_text": batch32,
                         "batch32_vs_floor": batch32 / floor, "floor_ms": floor,
                         "size_mb": megabytes})
    minutes = (time.monotonic() - started) / 60
    write_report(args, rows, refused_rows, cpu, threads, peaks, len(texts), minutes, quantized, len(calibration))


def write_report(args, rows: list[dict], refused: list[dict], cpu: dict, threads: int, peaks, n_test: int,
                 minutes: float, quantized: dict, calibrated: int) -> None:
    import ctranslate2
    import nncf
    import onnxruntime
    import openvino

    versions = {"onnxruntime": onnxruntime.__version__, "openvino": openvino.__version__.split("-")[0],
                "nncf": nncf.__version__, "ctranslate2": ctranslate2.__version__}
    frame = pd.DataFrame(rows)
    shown = pd.DataFrame({
        "model": frame["model"], "runtime": frame["runtime"], "precision": frame["precision"],
        "accuracy": frame["accuracy"].map(lambda a: f"{100 * a:.2f}"),
        "at batch 1": frame["accuracy_batch1"].map(lambda a: f"{100 * a:.2f}"),
        "batch 1 ≠ batch 64": frame["flips_batch1_vs_64"],
        "agrees with ORT fp32": frame["agrees_with_ort_fp32"].map(lambda a: f"{100 * a:.2f}%"),
        "batch-1 ms": frame["batch1_ms"].map(lambda v: f"{v:.2f}"),
        "× floor": frame["batch1_vs_floor"].map(lambda v: f"{v:.1f}"),
        "batch-32 ms/text": frame["batch32_ms_per_text"].map(lambda v: f"{v:.3f}"),
        "× floor ": frame["batch32_vs_floor"].map(lambda v: f"{v:.1f}"),
        "MB": frame["size_mb"].map(lambda v: f"{v:.1f}")})
    latency, throughput = min(n_test, args.latency_texts), min(n_test, THROUGHPUT_TEXTS)
    method = (f"`python scripts/runtimes.py --chains {' '.join(args.chains)}` ({minutes:.1f} min). {threads} threads; "
              f"{cpu['int8_path_means']}. {', '.join(f'{k} {v}' for k, v in versions.items())}. Test split: "
              f"{n_test} texts, accuracy at batch 64 and with each text sent alone; `batch 1 ≠ batch 64`: test "
              "predictions that change between the two. Latency: batch 1 over "
              f"{latency} test texts (median) and batch 32 over {throughput} (median of 3 rounds), every row "
              "interleaved in one process. Floor: the model's arithmetic at the median test length at this CPU's "
              f"measured GEMM peaks (fp32 {peaks.fp32} GFLOP/s, the better of PyTorch's and ONNX Runtime's; int8 "
              f"{peaks.ort_int8} GOP/s, ONNX Runtime's on {peaks.int8_operands}; {threads} threads), the same for "
              f"every runtime. ONNX Runtime INT8 is the pipeline's ({quantized['mode']}, {quantized['scales']}); "
              f"OpenVINO INT8 is NNCF's (static, {calibrated} training texts); CTranslate2 INT8 has int8 "
              "weights and quantizes activations on the fly per row (per text), its head runs in numpy. OpenVINO "
              "runs with f32 inference precision.")
    table = shown.to_markdown(index=False, disable_numparse=True)
    lines = [f"# Runtimes on {cpu['model']}", "", method, "", table, ""]
    if refused:
        lines += ["Not measured (the runtime refused the model):", ""]
        lines += [f"- {r['model']} on {r['runtime']} {r['precision']}: {r['why']}" for r in refused]
        lines.append("")
    with atomic_file(args.out) as tmp:
        tmp.write_text("\n".join(lines))
    write_json(args.metrics, {"cpu": cpu, "threads": threads, "versions": versions, "peaks": as_dict(peaks),
                              "test_texts": n_test, "minutes": round(minutes, 1), "rows": rows, "refused": refused})
    print("\n".join(lines))


if __name__ == "__main__":
    main()
