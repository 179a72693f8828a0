"""Export a saved classifier to ONNX with optimum, then check its logits against PyTorch on real texts."""

import json
import logging
import tempfile
from pathlib import Path

import numpy as np

from textslim.architectures import OUR_MODEL_TYPES
from textslim.atomic import atomic_file, write_json
from textslim.errors import TextslimError
from textslim.forms import SIDE_REPORTS, STUDENT_FILE, read_student_record, write_student_record
from textslim.inference import OnnxClassifier, TorchClassifier
from textslim.params import ExportParams

log = logging.getLogger(__name__)


def export_to_onnx(model_dir: str | Path, out_dir: str | Path) -> Path:
    """optimum's exporter: model.onnx with dynamic batch and sequence axes, tokenizer and config beside it.

    optimum knows the architectures transformers ships; a recipe whose model is ours (the BiLSTM, SetFit) registers
    its own exporter, found through the student's recorded recipe name. A model of our types without one (a SetFit
    teacher, a layer subset of it) goes through torch.onnx, as the recipes' exporters do.
    """
    from textslim.students.registry import get_recipe

    strategy = None
    if (Path(model_dir) / STUDENT_FILE).is_file():
        strategy = read_student_record(model_dir).get("strategy")  # the teacher has none
        recipe = get_recipe(strategy) if strategy else None
        if recipe is not None and recipe.export is not None:
            return recipe.export(model_dir, out_dir)
    model_type = json.loads((Path(model_dir) / "config.json").read_text()).get("model_type", "")
    if model_type.startswith(OUR_MODEL_TYPES):  # optimum would fail with a message about library names
        from textslim.students.torch_export import export_torch_onnx

        return export_torch_onnx(model_dir, out_dir)
    from optimum.exporters.onnx import main_export


    main_export(model_name_or_path=str(model_dir), output=str(out_dir), task="text-classification",
                device="cpu", do_validation=False)  # validated below, on real texts rather than random ids
    return Path(out_dir) / "model.onnx"


def optimize_graph(onnx_dir: str | Path, level: str) -> str:
    """Rewrite onnx_dir/model.onnx with optimum's ORTOptimizer at `level`, before quantization; return what was done.

    O1: ONNX Runtime's basic graph rewrites; O2: plus the transformer fusions (attention, layer norm, GELU, embedding);
    O3: plus the fast GELU approximation. ONNX Runtime applies its own fusions again when a session loads the graph,
    so an offline level pays only where it finds more (reports/graph-optimization.md measures it). A graph optimum has
    no fusion patterns for (our BiLSTM, SetFit's wrapper type) is left as exported, and the result says so.
    """
    if level == "none":
        return "none"
    import onnx
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference
    from optimum.onnxruntime import ORTOptimizer
    from optimum.onnxruntime.configuration import AutoOptimizationConfig
    from optimum.onnxruntime.utils import ORTConfigManager

    onnx_dir = Path(onnx_dir)
    config = json.loads((onnx_dir / "config.json").read_text())
    model_type = config.get("model_type", "")
    if model_type not in ORTConfigManager._conf:  # the table optimum checks (it raises a KeyError listing it)
        log.info("export_onnx.optimization %s: optimum has no graph optimizations for %s; left as exported", level,
                 model_type)
        return f"none ({model_type}: not a type optimum optimizes)"
    # Head-pruned layers have q/k/v narrower than the hidden size: ONNX Runtime's attention fusion warns about them,
    # and the graph still matches PyTorch (tests/test_export_quantize.py; 3e-6 on the pruned spread). O3's fast GELU
    # approximation does not (1e-3): parity stops it at export.
    settings = AutoOptimizationConfig.with_optimization_level(level)
    optimizer = ORTOptimizer.from_pretrained(str(onnx_dir), file_names=["model.onnx"])
    with tempfile.TemporaryDirectory(prefix="textslim-opt-") as tmp:
        optimizer.optimize(save_dir=tmp, optimization_config=settings)
        optimized = onnx.load(str(Path(tmp) / "model_optimized.onnx"))
    # The quantizer needs every tensor's type, which ONNX's shape inference cannot give for ONNX Runtime's fused ops
    # (com.microsoft domain); ONNX Runtime's own symbolic shape inference knows them.
    typed = SymbolicShapeInference.infer_shapes(optimized, auto_merge=True)
    with atomic_file(onnx_dir / "model.onnx") as tmp_file:
        onnx.save(typed, str(tmp_file))
    return level


def parity(model_dir: str | Path, onnx_dir: str | Path, texts: list[str], max_length: int,
           tolerance: float) -> dict:
    """Max |ONNX - PyTorch| over the logits of real texts; raise if past the tolerance."""
    torch_logits = TorchClassifier(model_dir, max_length).logits(texts)
    onnx_logits = OnnxClassifier(onnx_dir, "model.onnx", max_length).logits(texts)
    max_diff = float(np.abs(torch_logits - onnx_logits).max())
    agreement = float((torch_logits.argmax(-1) == onnx_logits.argmax(-1)).mean())
    report = {"max_abs_diff": max_diff, "tolerance": tolerance, "texts": len(texts), "argmax_agreement": agreement}
    if max_diff > tolerance:
        raise TextslimError(f"export_onnx.tolerance: ONNX logits differ from PyTorch by {max_diff:.2e} "
                            f"> {tolerance:.0e} on {len(texts)} test texts")
    return report


def export_folder(model_dir: str | Path, out_dir: str | Path, cfg: ExportParams, texts: list[str]) -> dict:
    """The export_onnx stage's work, for the stage and every study alike: model_dir exported into out_dir, its graph
    optimized at cfg.optimization, its logits checked against PyTorch on `texts` (a TextslimError past
    cfg.tolerance), its student record beside it, and parity.json, which it returns."""
    record = read_student_record(model_dir)
    export_to_onnx(model_dir, out_dir)
    optimization = optimize_graph(out_dir, cfg.optimization)
    report = {**parity(model_dir, out_dir, texts, record["max_length"], cfg.tolerance), "optimization": optimization}
    write_student_record(out_dir, record)
    write_json(Path(out_dir) / SIDE_REPORTS["parity"], report)
    return report
