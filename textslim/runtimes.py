"""Two more CPU runtimes for the models the pipeline exports, measured against ONNX Runtime (scripts/runtimes.py):

- OpenVINO: the ONNX graph read by openvino.convert_model and saved as IR (model.xml + model.bin, fp32 kept: the
  default save compresses weights to fp16). INT8 by NNCF post-training quantization: weights and activations, static
  ranges calibrated on training texts, so an answer cannot depend on the texts batched with it.
- CTranslate2: BERT encoders only here. Its Transformers converter takes BERT, DistilBERT, RoBERTa and XLM-R encoders
  (not MPNet), and converts the encoder and the pooler but never the classification head, so the head (BERT's one
  Linear on the pooled output) runs in numpy on CTranslate2's pooler output. A model whose heads were pruned is
  refused: CTranslate2 assumes every layer has all its attention heads.

The classifiers share textslim.inference's tokenizer path, so every runtime reads the same token ids. Inference
precision is pinned to f32 in OpenVINO: on a CPU with bf16 instructions its default would run an "fp32" model in bf16.
"""

import json
from pathlib import Path

import numpy as np
from transformers import AutoConfig, AutoTokenizer

from textslim.errors import TextslimError
from textslim.forms import write_model_files
from textslim.inference import ONNX_INPUTS, _Tokenized, graph_inputs

OPENVINO_FILE = "model.xml"
CTRANSLATE2_DIR = "ctranslate2"  # its own config.json would clash with the transformers one beside the tokenizer
HEAD_FILE = "classifier_head.npz"


def convert_to_openvino(onnx_dir: str | Path, out_dir: str | Path, model_file: str = "model.onnx") -> Path:
    """The ONNX graph in onnx_dir as OpenVINO IR in out_dir (fp32 weights), with the tokenizer and config."""
    import openvino as ov

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ov.save_model(ov.convert_model(Path(onnx_dir) / model_file), out_dir / OPENVINO_FILE, compress_to_fp16=False)
    write_model_files(onnx_dir, out_dir)
    return out_dir


def quantize_openvino(ir_dir: str | Path, out_dir: str | Path, calibration_texts: list[str], max_length: int) -> Path:
    """NNCF post-training INT8 of the IR in ir_dir (transformer preset: activations and weights), calibrated on
    calibration_texts one at a time, as a batch-1 call sees them."""
    import nncf
    import openvino as ov

    if not calibration_texts:
        raise TextslimError("OpenVINO INT8 needs calibration texts; none given")
    ir_dir, out_dir = Path(ir_dir), Path(out_dir)
    model = ov.Core().read_model(ir_dir / OPENVINO_FILE)
    names = [port.get_any_name() for port in model.inputs]
    tokenizer = AutoTokenizer.from_pretrained(ir_dir)
    samples = [graph_inputs(tokenizer([text], truncation=True, max_length=max_length, return_tensors="np"), names)
               for text in calibration_texts]
    quantized = nncf.quantize(model, nncf.Dataset(samples), model_type=nncf.ModelType.TRANSFORMER,
                              subset_size=len(samples))
    out_dir.mkdir(parents=True, exist_ok=True)
    ov.save_model(quantized, out_dir / OPENVINO_FILE, compress_to_fp16=False)
    write_model_files(ir_dir, out_dir)
    return out_dir


class OpenVinoClassifier(_Tokenized):
    """An OpenVINO IR classifier compiled for the CPU, f32 inference, one infer request reused call after call."""

    def __init__(self, model_dir: str | Path, max_length: int | None, threads: int = 0):
        import openvino as ov

        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.config = AutoConfig.from_pretrained(model_dir)
        options = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
        if threads:
            options["INFERENCE_NUM_THREADS"] = threads
        self.compiled = ov.Core().compile_model(Path(model_dir) / OPENVINO_FILE, "CPU", options)
        self.input_names = [port.get_any_name() for port in self.compiled.inputs]
        unknown = sorted(set(self.input_names) - set(ONNX_INPUTS))
        if unknown:
            raise TextslimError(f"{model_dir}: a text classifier graph takes {', '.join(ONNX_INPUTS)}; this one also "
                                f"takes {unknown}")
        self.logits_port = self.compiled.output("logits")
        self.request = self.compiled.create_infer_request()
        self.max_length = self._limit(max_length)

    def _forward(self, batch) -> np.ndarray:
        return self.request.infer(graph_inputs(batch, self.input_names))[self.logits_port].copy()


def _bert_head(model) -> tuple[np.ndarray, np.ndarray]:
    """The weight and bias of BertForSequenceClassification's classifier (applied to the pooled output)."""
    if getattr(model.config, "model_type", None) != "bert" or not hasattr(model, "bert"):
        raise TextslimError(f"CTranslate2 here takes BERT classifiers only (the head is applied outside it); this "
                            f"model is {model.config.model_type!r}")
    if getattr(model.config, "pruned_heads", None):
        raise TextslimError("CTranslate2 assumes every layer keeps all its attention heads; this model's heads were "
                            "pruned (structured pruning): use an unpruned variant")
    linear = model.classifier
    return linear.weight.detach().numpy().astype(np.float32), linear.bias.detach().numpy().astype(np.float32)


def convert_to_ctranslate2(model_dir: str | Path, out_dir: str | Path, quantization: str | None = None) -> Path:
    """A PyTorch BERT classifier as a CTranslate2 encoder (quantization: None for fp32 weights, or "int8") plus its
    head as numpy arrays, with the tokenizer and config, in out_dir."""
    import ctranslate2

    from textslim.inference import load_torch_model

    model_dir, out_dir = Path(model_dir), Path(out_dir)
    weight, bias = _bert_head(load_torch_model(model_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    converter = ctranslate2.converters.TransformersConverter(str(model_dir))
    converter.convert(str(out_dir / CTRANSLATE2_DIR), quantization=quantization, force=True)
    np.savez(out_dir / HEAD_FILE, weight=weight, bias=bias)
    write_model_files(model_dir, out_dir)
    (out_dir / "textslim_runtime.json").write_text(json.dumps({"runtime": "ctranslate2",
                                                               "weights": quantization or "float32"}))
    return out_dir


class CTranslate2Classifier(_Tokenized):
    """A CTranslate2 BERT encoder (its compute type: the weights' own, int8 or float32), the head in numpy."""

    def __init__(self, model_dir: str | Path, max_length: int | None, threads: int = 0):
        import ctranslate2

        model_dir = Path(model_dir)
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.config = AutoConfig.from_pretrained(model_dir)
        self.encoder = ctranslate2.Encoder(str(model_dir / CTRANSLATE2_DIR), device="cpu", intra_threads=threads)
        head = np.load(model_dir / HEAD_FILE)
        self.weight, self.bias = head["weight"], head["bias"]
        self.max_length = self._limit(max_length)

    def _forward(self, batch) -> np.ndarray:
        import ctranslate2

        ids = np.ascontiguousarray(batch["input_ids"], dtype=np.int32)
        lengths = np.ascontiguousarray(np.asarray(batch["attention_mask"]).sum(axis=1), dtype=np.int32)
        types = batch["token_type_ids"].tolist() if "token_type_ids" in batch else None
        output = self.encoder.forward_batch(ctranslate2.StorageView.from_array(ids),
                                            lengths=ctranslate2.StorageView.from_array(lengths),
                                            token_type_ids=types)
        return np.asarray(output.pooler_output) @ self.weight.T + self.bias
