"""How far each model is from what this CPU can do: matmul peaks, FLOPs per text, the floor time and the ratio.

The floor is the time the model's arithmetic would take at the GEMM peak this CPU reaches with the configured threads:
weight GEMMs (what dynamic INT8 quantizes) at the int8 peak for INT8 forms, everything else at the fp32 peak.
A measured time divided by its floor says how much of that time is not arithmetic at peak: small GEMMs that cannot
fill the cores, memory-bound ops (layer norm, softmax, GELU, quantize/dequantize), per-call overhead, tokenization.
"""

import itertools
import json
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from textslim.compress.quantize import operand_types, operands_label, quantization_config
from textslim.forms import ONNX_INT8, PRUNED, TEACHER, form_named, model_folder
from textslim.inference import graph_inputs, ort_session

PROBE_SIZE = 1024  # square GEMMs this big reach the kernels' peak on a CPU; the model's own GEMMs are far smaller
PROBE_REPEATS = 10


@dataclass(frozen=True)
class Peaks:
    """GEMM throughput this CPU reaches, in GFLOP/s (int8: billions of multiply-adds x 2 per second)."""

    torch_fp32: float
    ort_fp32: float
    ort_int8: float  # ONNX Runtime's integer GEMM (MatMulInteger -> int32) with the INT8 models' operand types
    threads: int
    int8_operands: str = "uint8 x int8"  # activations x weights of the int8 probe

    @property
    def fp32(self) -> float:
        return max(self.torch_fp32, self.ort_fp32)


def _median_seconds(run, repeats: int = PROBE_REPEATS) -> float:
    for _ in range(3):  # warm-up: packing, thread pool start
        run()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def _matmul_graph(path: Path, size: int, operands: dict | None = None) -> None:
    """A one-node ONNX graph: activations (input) x weights (initializer), as a dynamic-INT8 graph runs it when
    `operands` names the integer types (operand_types of the quantization config), as an fp32 graph when None."""
    from onnx import TensorProto, helper, numpy_helper, save
    from onnxruntime.quantization.quant_utils import get_qmin_qmax_for_qType

    rng = np.random.default_rng(0)
    if operands:
        weight_type = {"uint8": TensorProto.UINT8, "int8": TensorProto.INT8}[operands["weights"]]
        # the weight values the quantizer can write with these settings (7 bits under reduce_range)
        low, high = get_qmin_qmax_for_qType(weight_type, reduce_range=operands["reduce_range"], symmetric=True)
        values = rng.integers(int(low), int(high) + 1, (size, size)).astype(operands["weights"])
        weights = numpy_helper.from_array(values, "W")
        node = helper.make_node("MatMulInteger", ["A", "W"], ["Y"])
        a_type, y_type = TensorProto.UINT8, TensorProto.INT32
    else:
        weights = numpy_helper.from_array(rng.standard_normal((size, size), dtype=np.float32), "W")
        node = helper.make_node("MatMul", ["A", "W"], ["Y"])
        a_type = y_type = TensorProto.FLOAT
    graph = helper.make_graph([node], "probe", [helper.make_tensor_value_info("A", a_type, [size, size])],
                              [helper.make_tensor_value_info("Y", y_type, [size, size])], [weights])
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def int8_probe_operands(preset: str = "auto") -> dict:
    """The operand types of `preset` ("auto": this CPU's), as the int8 probe multiplies them."""
    return operand_types(quantization_config(preset))


def matmul_peaks(threads: int, size: int = PROBE_SIZE, operands: dict | None = None) -> Peaks:
    """The fp32 GEMM peak of PyTorch and of ONNX Runtime, and ONNX Runtime's int8 GEMM peak with `threads`.

    The int8 probe multiplies the INT8 models' operand types (`operands`: their quantize.json; None: what `auto`
    gives this CPU), so that the peak is measured on the kernel they run: u8 x u8 and u8 x s8 are different kernels.
    """
    flops = 2 * size**3
    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch_fp32 = flops / _median_seconds(lambda: torch.mm(a, b)) / 1e9
    rng = np.random.default_rng(1)
    operands = {key: (operands or int8_probe_operands())[key] for key in ("activations", "weights", "reduce_range")}
    inputs = {"fp32": (None, rng.standard_normal((size, size), dtype=np.float32)),
              "int8": (operands, rng.integers(0, 256, (size, size), dtype=np.uint8))}
    rates = {}
    with tempfile.TemporaryDirectory(prefix="textslim-probe-") as tmp:
        for name, (types, feed) in inputs.items():
            path = Path(tmp) / f"{name}.onnx"
            _matmul_graph(path, size, types)
            session = ort_session(path, threads)
            rates[name] = flops / _median_seconds(lambda: session.run(None, {"A": feed})) / 1e9  # noqa: B023
    return Peaks(torch_fp32=round(torch_fp32, 1), ort_fp32=round(rates["fp32"], 1), ort_int8=round(rates["int8"], 1),
                 threads=threads, int8_operands=operands_label(operands))


@dataclass(frozen=True)
class Work:
    """The arithmetic of one text at a given token length."""

    tokens: int
    weight_flops: int  # GEMMs against weights (Linear, LSTM gates): int8 in an INT8 graph
    other_flops: int  # activation x activation matmuls (attention scores and mixing): fp32 in every form

    @property
    def flops(self) -> int:
        return self.weight_flops + self.other_flops


def _lstm_flops(model: torch.nn.Module, tokens: int) -> int:
    """Multiply-adds x 2 of every nn.LSTM per text, by hand: torch's FLOP counter has no formula for aten.lstm.

    Each step computes four gates, each a GEMV over [input, hidden] -> hidden, per direction and layer.
    """
    total = 0
    for module in model.modules():
        if isinstance(module, torch.nn.LSTM):
            directions = 2 if module.bidirectional else 1
            for layer in range(module.num_layers):
                inputs = module.input_size if layer == 0 else module.hidden_size * directions
                total += directions * tokens * 4 * 2 * (inputs + module.hidden_size) * module.hidden_size
    return total


def median_tokens(tokenizer, texts: list[str], max_length: int) -> int:
    """The median token count of the texts with this tokenizer (a trimmed vocabulary splits words into more pieces)."""
    lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]]
    return int(np.median(lengths))


def work_per_text(model_dir: str | Path, tokens: int) -> Work:
    """FLOPs of one forward pass of the saved PyTorch model at `tokens` tokens, counted by torch's FLOP counter.

    Eager attention makes the attention matmuls visible to the counter (the fused SDPA kernel is not counted);
    recipes that build their encoder themselves (SetFit) keep theirs, and their attention matmuls, about 1% of the
    arithmetic at these lengths, are left out.
    """
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(model_dir, attn_implementation="eager").eval()
    ids = torch.full((1, tokens), 5, dtype=torch.long)  # the ids do not change the arithmetic, only the length
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(input_ids=ids, attention_mask=torch.ones_like(ids))
    counts = {str(op): n for op, n in counter.get_flop_counts()["Global"].items()}
    weights = counts.get("aten.addmm", 0) + counts.get("aten.mm", 0) + _lstm_flops(model, tokens)
    other = counter.get_total_flops() - counts.get("aten.addmm", 0) - counts.get("aten.mm", 0)
    return Work(tokens=tokens, weight_flops=int(weights), other_flops=int(other))


def floor_ms(work: Work, peaks: Peaks, int8: bool, batch: int = 1) -> float:
    """The time `batch` texts' arithmetic takes at this CPU's GEMM peaks."""
    weight_rate = peaks.ort_int8 if int8 else peaks.fp32
    return 1e3 * batch * (work.weight_flops / (weight_rate * 1e9) + work.other_flops / (peaks.fp32 * 1e9))


def significant(value: float, digits: int = 4) -> float:
    """value to `digits` significant figures: a floor rounded to fixed decimals reads 0 on a fast CPU (a tiny BiLSTM's
    int8 floor at 1.6 TOP/s is under 0.00005 ms), and the report divides by it."""
    return float(f"{value:.{digits}g}")


def tokenizer_ms(classifier, texts: list[str]) -> float:
    """The median time the classifier takes to turn one text into its model inputs (its own encode)."""
    call = itertools.cycle(texts)
    return 1e3 * _median_seconds(lambda: classifier.encode([next(call)]), repeats=len(texts))


def op_times(model_path: str | Path, threads: int, feeds: list[dict], runs: int) -> dict[str, float]:
    """ONNX Runtime's own profile of `runs` calls: the mean ms per call spent in each op type, and the time of a call
    outside any op ("session overhead": input checks, allocation, thread hand-offs)."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="textslim-profile-") as tmp:
        options = ort.SessionOptions()  # as inference.ort_session builds them, plus the profiler
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "ort")
        session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        for i in range(runs + 10):  # 10 warm-up calls, profiled too but dropped below
            session.run(None, feeds[i % len(feeds)])
        events = json.loads(Path(session.end_profiling()).read_text())
    runs_seen = [e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"]
    started = runs_seen[-runs]["ts"]  # the last `runs` calls only
    events = [e for e in events if e.get("ts", 0) >= started]
    per_op: dict[str, float] = {}
    run_us = 0.0
    for event in events:
        if event.get("cat") == "Session" and event.get("name") == "model_run":
            run_us += event["dur"]
        elif event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            op = event.get("args", {}).get("op_name", "?")
            per_op[op] = per_op.get(op, 0.0) + event["dur"]
    shares = {op: us / runs / 1e3 for op, us in sorted(per_op.items(), key=lambda kv: -kv[1])}
    shares["session overhead"] = max(run_us / runs / 1e3 - sum(shares.values()), 0.0)
    return shares


def as_dict(peaks: Peaks) -> dict:
    return {**asdict(peaks), "fp32": peaks.fp32}


def torch_source(row: dict, models: str | Path) -> Path | None:
    """The PyTorch model whose arithmetic a variant runs: its own for PyTorch forms; for the ONNX forms the model
    they were exported from (the student's pruned form, or the teacher). None for the TF-IDF baseline."""
    if row["runtime"] == "pytorch":
        return model_folder(models, form_named(row["form"]), row["student"])
    if row["runtime"] != "onnxruntime":
        return None
    return model_folder(models, TEACHER if row["student"] is None else PRUNED, row["student"])


def roofline_figures(row: dict, work: Work, peaks: Peaks, batch: int) -> dict:
    """FLOPs per text, the floor at batch 1 and at `batch`, and the measured time over each floor."""
    int8 = row["form"] == ONNX_INT8.name
    floor_1, floor_n = floor_ms(work, peaks, int8), floor_ms(work, peaks, int8, batch)
    measured_n = 1e3 * batch / row[f"texts_per_s_batch{batch}"]
    return {"tokens": work.tokens, "gflops_per_text": round(work.flops / 1e9, 4),
            "floor_ms_batch1": significant(floor_1), f"floor_ms_batch{batch}": significant(floor_n),
            "vs_floor_batch1": round(row["batch1_ms_median"] / floor_1, 1),
            f"vs_floor_batch{batch}": round(measured_n / floor_n, 1)}


GEMM_OPS = frozenset({"MatMul", "Gemm", "FusedMatMul", "MatMulInteger", "MatMulIntegerToFloat",
                      "DynamicQuantizeMatMul", "QAttention", "Attention", "LSTM", "DynamicQuantizeLSTM",
                      "QLinearMatMul"})  # the op types that do a model's multiply-adds


def _call_overhead_ms(feed: dict, threads: int, calls: int) -> float:
    """The time ONNX Runtime takes for a call that does no work: a one-node graph (input_ids -> Identity) fed the
    same inputs: input checks, output allocation, the hand-off to the thread pool and back."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, save

    with tempfile.TemporaryDirectory(prefix="textslim-empty-") as tmp:
        path = Path(tmp) / "empty.onnx"
        shape = ["batch", "tokens"]
        graph = helper.make_graph([helper.make_node("Identity", ["input_ids"], ["out"])], "empty",
                                  [helper.make_tensor_value_info("input_ids", TensorProto.INT64, shape)],
                                  [helper.make_tensor_value_info("out", TensorProto.INT64, shape)])
        save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        ids = {"input_ids": feed["input_ids"]}
        return 1e3 * _median_seconds(lambda: session.run(None, ids), repeats=calls)


def where_the_time_goes(classifier, texts: list[str], threads: int, batch: int, floor: float,
                        runs: int = 200) -> dict:
    """Calls of an ONNX classifier on `batch` texts at a time taken apart, in ms per call: the tokenizer; the session
    call, split into ONNX Runtime's per-call overhead (an empty graph's call, measured), the GEMM kernels (what the
    floor counts) and the other kernels (layer norm, GELU, softmax, quantize/dequantize, reshapes: memory-bound work
    the floor leaves out); and the arithmetic floor.

    Texts are grouped by length as the throughput measurement groups them. The tokenizer and the session call are
    timed as they run; the profiler (which slows small ops most) only gives the GEMM/other proportions of the
    kernels' time.
    """
    ordered = sorted(texts, key=len)
    groups = [ordered[i:i + batch] for i in range(0, len(ordered) - batch + 1, batch)] or [ordered]

    tokenize = classifier.encode
    feeds = [graph_inputs(tokenize(group), classifier.input_names) for group in groups]
    calls = max(runs // batch, 20)
    next_group, next_feed = itertools.cycle(groups), itertools.cycle(feeds)
    tokenizer_ms = 1e3 * _median_seconds(lambda: tokenize(next(next_group)), repeats=calls)
    session_ms = 1e3 * _median_seconds(lambda: classifier.session.run(["logits"], next(next_feed)), repeats=calls)
    overhead_ms = min(_call_overhead_ms(feeds[len(feeds) // 2], threads, calls), session_ms)
    ops = op_times(classifier.session._model_path, threads, feeds, calls)
    ops.pop("session overhead")
    gemm_share = sum(ms for op, ms in ops.items() if op in GEMM_OPS) / max(sum(ops.values()), 1e-9)
    kernels_ms = session_ms - overhead_ms
    return {"batch": batch, "tokenizer_ms": round(tokenizer_ms, 4), "session_run_ms": round(session_ms, 4),
            "call_overhead_ms": round(overhead_ms, 4), "gemm_kernels_ms": round(kernels_ms * gemm_share, 4),
            "other_kernels_ms": round(kernels_ms * (1 - gemm_share), 4),
            "top_ops_share": {op: round(ms / sum(ops.values()), 3) for op, ms in list(ops.items())[:6]},
            "floor_ms": significant(floor)}
