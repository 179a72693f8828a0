"""Embedding tables at 4 bits: ONNX Runtime's block-wise weight-only quantizer turns each Gather on a float table
(the word, position and token-type embeddings, a BiLSTM's word vectors) into GatherBlockQuantized, 4-bit values with
one scale and zero point per block of `block_size` numbers along the hidden axis.

Why: after INT8, the word-embedding table is most of what a compact student ships (10.6 of spread.heavy-int8's
13.7 MB on the default run), and only the ~20 rows a text looks up are read per call. The quantizer is ONNX Runtime's
own (onnxruntime.quantization.matmul_nbits_quantizer); this module only picks the nodes it may touch and checks that
the result loads.
"""

import logging
import shutil
from pathlib import Path

from textslim.errors import TextslimError

OPSET = 21  # GatherBlockQuantized's 4-bit tensors (UINT4) exist from opset 21 and IR version 10 on


def embeddings_label(cfg) -> str:
    """How a quantize config (QuantizeParams) stores the embedding tables, as quantize.json and the summary say it."""
    if cfg.embedding_bits == 8:
        return "uint8, one scale per table"
    return f"4-bit, a scale and zero point per {cfg.embedding_block_size} numbers"


def copy_at_opset(onnx_dir: str | Path, out_dir: str | Path) -> Path:
    """onnx_dir copied into out_dir with its model.onnx at opset 21, so that its Gathers can take 4-bit tables.
    ONNX's version converter rewrites the ops whose form changed on the way (ReduceL2's axes, an attribute before
    opset 18 and an input after, in the setfit student's normalisation); the quantizer itself would only relabel the
    opset, and ONNX Runtime then rejects such a graph."""
    import onnx
    from onnx import version_converter

    onnx_dir, out_dir = Path(onnx_dir), Path(out_dir)
    shutil.copytree(onnx_dir, out_dir, dirs_exist_ok=True)
    model = onnx.load(str(onnx_dir / "model.onnx"))
    if next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) < OPSET:
        onnx.save(version_converter.convert_version(model, OPSET), str(out_dir / "model.onnx"))
    return out_dir


def embedding_gathers(model) -> list[str]:
    """The Gather nodes that look up rows of a float matrix stored in the graph: embedding tables. Gathers on shapes
    or on computed tensors are left alone (the quantizer handles constant float tables only)."""
    from onnx import TensorProto

    tables = {init.name for init in model.graph.initializer
              if init.data_type == TensorProto.FLOAT and len(init.dims) == 2}
    return [node.name for node in model.graph.node
            if node.op_type == "Gather" and node.name and node.input[0] in tables]


def embeddings_to_4bit(model_path: str | Path, block_size: int) -> int:
    """Rewrite the ONNX model at model_path with its embedding tables at 4 bits (asymmetric, blocks of block_size
    along the hidden axis); the number of tables quantized. The model's other weights are kept as they are, so run
    this after INT8 quantization has left the Gathers out."""
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    model_path = Path(model_path)
    model = onnx.load(str(model_path))
    gathers = embedding_gathers(model)
    if not gathers:
        raise TextslimError(f"quantize.embedding_bits = 4: {model_path} has no embedding table (a Gather on a float "
                            "matrix) to quantize")
    quantizer = MatMulNBitsQuantizer(model, bits=4, block_size=block_size, is_symmetric=False,
                                     nodes_to_include=gathers, op_types_to_quantize=("Gather",),
                                     quant_axes=(("Gather", 1),))
    # GatherBlockQuantized's 4-bit tensors need IR version 10 and opset 21: the quantizer raises both, warning that
    # the result "may not be a valid model" for every graph. Loading the result below is the check it asks for (a
    # graph ONNX Runtime rejects fails this stage, not the evaluate stage), so its warnings and per-node lines are
    # kept out of the stage's log.
    ort_log = logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer")
    level = ort_log.level
    ort_log.setLevel(logging.ERROR)
    try:
        quantizer.process()
    finally:
        ort_log.setLevel(level)
    onnx.save(quantizer.model.model, str(model_path))
    ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    return len(gathers)
