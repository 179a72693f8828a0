"""Tiny models and data built inside the tests: no downloads, seconds per test."""

import random
from pathlib import Path

import pandas as pd
import torch

POSITIVE = "good great fine fun funny smart sharp moving love best charming clever warm".split()
NEGATIVE = "bad awful boring dull slow weak mess hate worst tedious bland clumsy flat".split()
FILLER = "the a this that it is was and but very so movie film story plot acting scene script music".split()
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
LABELS = ["neg", "pos"]


def write_vocab(path: Path) -> Path:
    """A WordPiece vocab holding the special tokens and every word the tiny data uses."""
    path.write_text("\n".join(SPECIAL + FILLER + POSITIVE + NEGATIVE) + "\n", encoding="utf-8")
    return path


def tiny_config(arch: str = "bert", layers: int = 4, vocab_size: int = 64, labels: list[str] = LABELS):
    """A BERT- or MPNet-shaped config with hidden 32: big enough to have every module, small enough to be instant."""
    from transformers import BertConfig, MPNetConfig

    cls = {"bert": BertConfig, "mpnet": MPNetConfig}[arch]
    return cls(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=layers, num_attention_heads=2,
               intermediate_size=37, max_position_embeddings=80, id2label=dict(enumerate(labels)),
               label2id={name: i for i, name in enumerate(labels)})


def make_tiny_model(out_dir: Path, arch: str = "bert", layers: int = 4, seed: int = 0) -> Path:
    """Save a randomly initialised tiny classifier and its tokenizer as a model directory."""
    from transformers import AutoModelForSequenceClassification, BertTokenizerFast

    out_dir.mkdir(parents=True, exist_ok=True)
    vocab = write_vocab(out_dir / "vocab.txt")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True, model_max_length=64)
    torch.manual_seed(seed)
    config = tiny_config(arch, layers, vocab_size=len(vocab.read_text().split()))
    AutoModelForSequenceClassification.from_config(config).save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def sentences(n: int, seed: int = 0) -> pd.DataFrame:
    """n short reviews whose label follows their sentiment words, balanced 50/50."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = i % 2
        words = rng.sample(FILLER, 4) + rng.sample(POSITIVE if label else NEGATIVE, 2)
        rng.shuffle(words)
        rows.append({"text": " ".join(words) + f" {i}", "label": LABELS[label]})
    return pd.DataFrame(rows)


def models_root(source: Path, root: Path) -> tuple[Path, Path]:
    """A models root laid out as dvc.yaml writes it, from a tiny BERT classifier at `source`: the teacher, and a chain
    `s.heavy` whose heads were pruned, each with its ONNX and INT8 forms (quantize.json included); and prepared
    splits. Returns (models, data)."""
    from textslim.compress.onnx_export import export_to_onnx
    from textslim.compress.quantize import quantize_folder
    from textslim.data import write_prepared
    from textslim.forms import write_model_files, write_student_record
    from textslim.inference import load_torch_model
    from textslim.params import QuantizeParams

    models, data = root / "models", root / "data"
    teacher = models / "teacher"
    model = load_torch_model(source)
    model.save_pretrained(teacher)
    write_model_files(source, teacher)
    write_student_record(teacher, {"max_length": 32})
    model.prune_heads({0: [0]})
    pruned = models / "pruned" / "s.heavy"
    write_model_files(teacher, pruned)  # the tokenizer and record; then the pruned config over the teacher's
    model.save_pretrained(pruned)
    for folder, owner in ((teacher, "teacher"), (pruned, "s.heavy")):
        export_to_onnx(folder, models / "onnx" / owner)
        write_model_files(folder, models / "onnx" / owner)  # the student record, as the export stage writes it
        # + quantize.json; dynamic: no validation split here for auto to choose on
        quantize_folder(models / "onnx" / owner, models / "quantized" / owner, QuantizeParams(mode="dynamic"))
    data.mkdir()
    frame = sentences(60, seed=8).assign(label=lambda f: f["label"].map(LABELS.index))
    write_prepared({"train": frame[:30], "validation": frame[30:40], "test": frame[40:]}, LABELS, data)
    return models, data
