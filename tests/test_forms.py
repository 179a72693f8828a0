"""The model-folder contract: every form loads through inference.load and scores like its own runtime class, its
token counts and truncation are reported, and the student record is written and read in one place."""

import json
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from transformers import AutoTokenizer

from tests.tiny import sentences
from textslim.compress.onnx_export import export_to_onnx
from textslim.compress.quantize import quantize_dynamic
from textslim.errors import TextslimError
from textslim.forms import (
    DISTILLED,
    FORMS,
    ONNX_FP32,
    ONNX_INT8,
    PRUNED,
    SIDE_REPORTS,
    SKLEARN,
    STUDENT_FILE,
    TEACHER,
    form_named,
    model_folder,
    read_student_record,
    write_model_files,
    write_student_record,
)
from textslim.inference import OnnxClassifier, SklearnClassifier, TorchClassifier, load
from textslim.measure.roofline import torch_source

TEXTS = sentences(12, seed=4)["text"].tolist()


@pytest.fixture(scope="module")
def folders(tiny_teacher, tmp_path_factory) -> dict:
    """The tiny teacher in every form: PyTorch, ONNX fp32, ONNX INT8; and a TF-IDF pipeline."""
    onnx_dir, int8_dir, sklearn_dir = (tmp_path_factory.mktemp(name) for name in ("onnx", "int8", "sklearn"))
    export_to_onnx(tiny_teacher, onnx_dir)
    quantize_dynamic(onnx_dir, int8_dir, "avx2", per_channel=True)
    write_model_files(onnx_dir, int8_dir)
    frame = sentences(40, seed=5)
    joblib.dump(make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(frame["text"], frame["label"]),
                sklearn_dir / SKLEARN.file)
    return {TEACHER: tiny_teacher, ONNX_FP32: onnx_dir, ONNX_INT8: int8_dir, SKLEARN: sklearn_dir}


def test_every_form_loads_by_name_and_scores_like_its_runtime_class(folders):
    direct = {TEACHER: TorchClassifier(folders[TEACHER], 16), ONNX_FP32: OnnxClassifier(folders[ONNX_FP32],
                                                                                      "model.onnx", 16),
              ONNX_INT8: OnnxClassifier(folders[ONNX_INT8], "model_quantized.onnx", 16),
              SKLEARN: SklearnClassifier(folders[SKLEARN] / "model.joblib")}
    for form, folder in folders.items():
        loaded = load(form.name, folder, 16)
        assert type(loaded) is type(direct[form])
        np.testing.assert_allclose(loaded.logits(TEXTS), direct[form].logits(TEXTS), atol=1e-6)
        classified = loaded.classify(TEXTS)
        np.testing.assert_allclose(classified.logits, loaded.logits(TEXTS), atol=1e-6)
        assert len(classified.n_tokens) == len(classified.truncated) == len(TEXTS)


@pytest.mark.parametrize("form", [TEACHER, ONNX_FP32, ONNX_INT8])
def test_token_counts_and_truncation(folders, form):
    """sentences(): 6 words and a number, 9 tokens with [CLS] and [SEP]; a repeated one is cut at max_length."""
    short, long = TEXTS[0], " ".join(TEXTS[:4])
    classified = load(form, folders[form], 12).classify([short, long])
    assert classified.n_tokens == [9, 12]
    assert classified.truncated == [False, True]


def test_the_baseline_counts_its_vectorizer_tokens_and_cuts_nothing(folders):
    classified = load(SKLEARN, folders[SKLEARN], 0).classify(["good film", "a good film , truly"])
    assert classified.n_tokens == [2, 3]  # the default analyzer drops one-letter words and punctuation
    assert classified.truncated == [False, False]


def test_forms_are_named_once():
    assert {form.name for form in FORMS.values()} == set(FORMS) and form_named("onnx-int8") is ONNX_INT8
    assert len({form.short for form in FORMS.values()}) == len(FORMS)
    with pytest.raises(TextslimError, match="unknown model form 'onnx-int4'; known: pytorch-fp32"):
        form_named("onnx-int4")


def test_the_student_record_is_written_and_read_in_one_place(tmp_path):
    write_student_record(tmp_path, {"strategy": "spread", "max_length": 64})
    assert json.loads((tmp_path / STUDENT_FILE).read_text()) == read_student_record(tmp_path)
    assert read_student_record(tmp_path)["max_length"] == 64
    with pytest.raises(ValueError, match="max_length"):
        write_student_record(tmp_path, {"strategy": "spread"})
    with pytest.raises(TextslimError, match=f"no {STUDENT_FILE}"):
        read_student_record(tmp_path / "elsewhere")


def test_every_form_has_one_folder_under_the_models_root_as_dvc_yaml_lays_them_out(tmp_path):
    from tests.test_dvc_yaml import DVC_YAML

    folders = {model_folder("models", form, student) for form in FORMS.values() for student in (None, "spread")}
    assert {str(f) for f in folders} == {
        "models/teacher", "models/baseline", "models/students/teacher", "models/students/spread",
        "models/pruned/teacher", "models/pruned/spread", "models/onnx/teacher", "models/onnx/spread",
        "models/quantized/teacher", "models/quantized/spread"}
    stages = [stage.get("do", stage) for stage in DVC_YAML["stages"].values()]
    outs = {next(iter(out)) if isinstance(out, dict) else out for stage in stages for out in stage.get("outs", [])}
    assert f"models/{DISTILLED.folder}/${{item}}" in outs  # where the stages write, ${item} the student
    for form in (PRUNED, ONNX_FP32, ONNX_INT8):  # one folder per compression chain: student.variant
        assert f"models/{form.folder}/${{item.student}}.${{item.variant}}" in outs
    assert {"models/teacher", "models/baseline", "models/onnx/teacher", "models/quantized/teacher"} <= outs
    for name in ("../x", "a/b", "..", "", "x/"):
        with pytest.raises(TextslimError, match="is not a plain name"):
            model_folder(tmp_path, ONNX_INT8, name)


def test_the_roofline_counts_the_pytorch_model_each_variant_runs():
    assert torch_source({"runtime": "pytorch", "form": "pytorch-fp32", "student": None}, "m") == Path("m/teacher")
    assert torch_source({"runtime": "onnxruntime", "form": "onnx-int8", "student": "s"}, "m") == Path("m/pruned/s")
    assert torch_source({"runtime": "onnxruntime", "form": "onnx-int8", "student": None}, "m") == Path("m/teacher")
    assert torch_source({"runtime": "sklearn", "form": "sklearn", "student": None}, "m") is None


def test_model_files_go_from_the_source_into_the_new_folder_and_side_reports_stay(folders, tmp_path):
    import shutil

    source = shutil.copytree(folders[ONNX_FP32], tmp_path / "onnx")
    write_student_record(source, {"strategy": "spread", "max_length": 16})
    (source / SIDE_REPORTS["parity"]).write_text("{}")
    before = sorted(p.name for p in source.iterdir())
    folder = tmp_path / "int8"
    folder.mkdir()
    write_model_files(source, folder)
    assert sorted(p.name for p in source.iterdir()) == before  # the source is read, never written
    assert read_student_record(folder) == {"strategy": "spread", "max_length": 16}
    assert (folder / "config.json").read_bytes() == (source / "config.json").read_bytes()
    assert not (folder / SIDE_REPORTS["parity"]).exists()
    assert load(ONNX_FP32, source, 16).tokenizer(TEXTS)["input_ids"] == AutoTokenizer.from_pretrained(folder)(
        TEXTS)["input_ids"]


def _hf_and_raw(tokenizer, texts: list[str], max_length: int):
    from textslim.inference import raw_encoder

    hf = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="np")
    encodings = raw_encoder(tokenizer, max_length).encode_batch(texts)
    return hf, encodings


@pytest.mark.parametrize("padding_side", ["right", "left"])
@pytest.mark.parametrize("which", ["tiny", "minilm-l6"])
def test_the_raw_encoder_gives_the_hf_calls_ids_masks_and_overflow(folders, which, padding_side):
    from textslim.assets import resolve_model

    folder = folders[ONNX_FP32] if which == "tiny" else resolve_model("builtin:minilm-l6")
    tokenizer = AutoTokenizer.from_pretrained(folder, padding_side=padding_side)
    texts = TEXTS + ["", "  ", "Ünïcödé — «quoted» 😀 text", "a [SEP] inside [CLS] and [MASK]", "x" * 300,
                     " ".join(TEXTS)]
    for batch in [texts[:1], texts[-1:], texts[-3:-2], texts]:
        hf, encodings = _hf_and_raw(tokenizer, batch, 12)
        assert [e.ids for e in encodings] == hf["input_ids"].tolist()
        assert [e.attention_mask for e in encodings] == hf["attention_mask"].tolist()
        assert [e.type_ids for e in encodings] == hf["token_type_ids"].tolist()
        assert [bool(e.overflowing) for e in encodings] == [bool(e.overflowing) for e in hf.encodings]
    assert any(e.overflowing for e in encodings) and any(not e.overflowing for e in encodings)


def test_onnx_scores_are_the_same_from_the_raw_encoder_and_the_hf_call(folders):
    raw = load(ONNX_INT8, folders[ONNX_INT8], 12)
    hf = load(ONNX_INT8, folders[ONNX_INT8], 12)
    hf.raw_encoding = False
    texts = TEXTS + [" ".join(TEXTS)]
    np.testing.assert_array_equal(raw.logits(texts), hf.logits(texts))
    ours, theirs = raw.classify(texts), hf.classify(texts)
    assert (ours.n_tokens, ours.truncated) == (theirs.n_tokens, theirs.truncated)
    assert raw._raw[1] is not None and not hasattr(hf, "_raw")  # each took the path named
    raw.max_length = 8  # the server caps it after loading: the encoder follows
    assert max(raw.classify(texts).n_tokens) == 8
