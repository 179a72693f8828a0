"""Every student recipe builds, learns, and survives prune -> ONNX -> INT8 through the pipeline's functions."""

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, TrainingArguments

from tests.tiny import LABELS, make_tiny_model, sentences, tiny_config
from textslim.compress.onnx_export import export_to_onnx, parity
from textslim.compress.quantize import quantize_dynamic
from textslim.compress.unstructured import global_magnitude_prune
from textslim.errors import TextslimError
from textslim.forms import STUDENT_FILE
from textslim.inference import OnnxClassifier, TorchClassifier
from textslim.measure.evaluation import count_parameters
from textslim.params import DistillParams, Params
from textslim.students import build_student
from textslim.students.layers import LayerParams
from textslim.students.lora import LoraParams, attention_targets
from textslim.students.lstm import LstmParams
from textslim.students.pretrained import PretrainedParams
from textslim.students.registry import check_recipes, recipe_section
from textslim.students.setfit import SetfitParams
from textslim.train.loop import DistillationTrainer, _Collator, tokenize_frame

FRAME = sentences(48, seed=1).assign(label=lambda f: (f["label"] == "pos").astype("int64"))
TEXTS = FRAME["text"].tolist()
SPLITS = {"train": FRAME, "validation": FRAME.head(8), "test": FRAME.tail(8)}


@pytest.fixture(scope="module")
def teacher(tiny_teacher):
    model = AutoModelForSequenceClassification.from_pretrained(tiny_teacher)
    return model, AutoTokenizer.from_pretrained(tiny_teacher)


@pytest.fixture(scope="module")
def params(tmp_path_factory, tiny_sentence_body):
    compact = make_tiny_model(tmp_path_factory.mktemp("compact") / "m", "bert", layers=2, seed=5)
    return Params(distill=DistillParams(max_length=24), recipes={
        "spread": LayerParams(num_layers=2), "pretrained": PretrainedParams(model=str(compact)),
        "lora": LoraParams(base="spread", num_layers=2, rank=4, alpha=8.0),
        "setfit": SetfitParams(body=str(tiny_sentence_body), shots_per_class=4, num_iterations=2, max_length=24),
        "lstm": LstmParams(embedding_dim=16, hidden_size=16, min_count=1, max_length=24)})


def _build(name, teacher, params):
    model, tokenizer = teacher
    torch.manual_seed(0)
    return build_student(name, model, tokenizer, SPLITS, LABELS, params)


def _loss_drops_after_one_step(build, tmp_path) -> tuple[float, float]:
    teacher_logits = np.where(FRAME["label"].to_numpy()[:, None] == 1, [-2.0, 2.0], [2.0, -2.0]).astype(np.float32)
    data = tokenize_frame(FRAME.head(16), build.tokenizer, 24, teacher_logits[:16])
    batch = _Collator(build.tokenizer)([dict(row) for row in data])
    trainer = DistillationTrainer(model=build.model, args=TrainingArguments(str(tmp_path), report_to=[], use_cpu=True),
                                  loss_weights=build.loss)
    build.model.eval()
    optimizer = torch.optim.SGD([p for p in build.model.parameters() if p.requires_grad], lr=0.05)
    before = trainer.compute_loss(build.model, dict(batch))
    before.backward()
    optimizer.step()
    with torch.no_grad():
        after = trainer.compute_loss(build.model, dict(batch))
    return before.item(), after.item()


@pytest.mark.parametrize("name", ["spread", "pretrained", "lora", "setfit", "lstm"])
def test_recipe_builds_and_one_step_lowers_the_loss(name, teacher, params, tmp_path):
    build = _build(name, teacher, params)
    assert build.recipe["recipe"] in {"layers", "pretrained", "lora", "setfit", "lstm"}
    assert build.model(**build.tokenizer(["good fun film"], return_tensors="pt")).logits.shape == (1, 2)
    before, after = _loss_drops_after_one_step(build, tmp_path)
    assert after < before, (name, before, after)


def test_pretrained_student_has_its_own_tokenizer_and_a_fresh_head(teacher, params):
    build = _build("pretrained", teacher, params)
    assert build.model.config.num_hidden_layers == 2
    assert build.model.config.id2label == dict(enumerate(LABELS))
    assert build.tokenizer.name_or_path == recipe_section(params, "pretrained").model


def test_lora_targets_attention_generically_for_bert_and_mpnet():
    bert = AutoModelForSequenceClassification.from_config(tiny_config("bert", layers=2))
    mpnet = AutoModelForSequenceClassification.from_config(tiny_config("mpnet", layers=2))
    assert attention_targets(bert) == ["attention.self.query", "attention.self.key", "attention.self.value",
                                       "attention.output.dense"]
    assert attention_targets(mpnet) == ["attention.attn.q", "attention.attn.k", "attention.attn.v",
                                        "attention.attn.o"]


def test_lora_counts_trainable_params_and_merges_to_the_same_logits(teacher, params, tmp_path):
    build = _build("lora", teacher, params)
    trainable = sum(p.numel() for p in build.model.parameters() if p.requires_grad)
    assert build.recipe["trainable_params"] == trainable < build.recipe["total_params"] / 2
    _loss_drops_after_one_step(build, tmp_path)  # non-zero adapters, so merging has something to merge
    batch = build.tokenizer(TEXTS[:6], padding=True, return_tensors="pt")
    build.model.eval()
    with torch.no_grad():
        unmerged = build.model(**batch).logits
        merged_model = build.model.merge_and_unload()
        merged = merged_model(**batch).logits
    assert torch.allclose(unmerged, merged, atol=1e-5)
    assert not any("lora" in name for name, _ in merged_model.named_parameters())
    assert type(merged_model).__name__ == "BertForSequenceClassification"


def test_lora_target_modules_that_match_nothing_are_named(teacher, params):
    bad = Params(distill=params.distill, recipes={"lora": LoraParams(target_modules=("attention.self.qkv",))})
    with pytest.raises(TextslimError, match="lora.target_modules: 'attention.self.qkv' matches no Linear"):
        _build("lora", teacher, bad)


def test_lstm_vocabulary_and_unknown_words(teacher, params, tmp_path):
    build = _build("lstm", teacher, params)
    build.tokenizer.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again("good movie")["input_ids"] == build.tokenizer("good movie")["input_ids"]
    assert again("zzyzx")["input_ids"] == [build.tokenizer.unk_token_id]


def test_the_lstm_learns_its_words_from_the_unlabelled_transfer_texts_too(teacher, params):
    """Few-shot: a handful of labelled texts and many unlabelled ones; words only the unlabelled texts use are in the
    vocabulary (and have Word2Vec vectors), not [UNK]."""
    model, tokenizer = teacher
    build = build_student("lstm", model, tokenizer, SPLITS, LABELS, params, ["zzyzx splendid", "zzyzx dreary"])
    ids = build.tokenizer("zzyzx splendid dreary")["input_ids"]
    assert build.tokenizer.unk_token_id not in ids and len(ids) == 3
    assert build.recipe["coverage"] == 1.0  # Word2Vec trained on the same texts: every word has a vector


@pytest.mark.parametrize("name", ["lstm", "lora", "pretrained", "setfit"])
def test_recipe_survives_prune_onnx_and_int8(name, teacher, params, tmp_path):
    build = _build(name, teacher, params)
    model = build.model.merge_and_unload() if hasattr(build.model, "merge_and_unload") else build.model
    sparsity = global_magnitude_prune(model, 0.4)
    assert sparsity["linear_sparsity"] == pytest.approx(0.4, abs=1e-3)
    assert count_parameters(model)["params"] == sparsity["params"]
    model_dir, onnx_dir, int8_dir = tmp_path / "pruned", tmp_path / "onnx", tmp_path / "int8"
    model.save_pretrained(model_dir)
    build.tokenizer.save_pretrained(model_dir)
    (model_dir / STUDENT_FILE).write_text(f'{{"strategy": "{name}", "max_length": 24}}')  # as distill writes it
    export_to_onnx(model_dir, onnx_dir)  # the recipe's own exporter (torch.onnx) where it registered one
    report = parity(model_dir, onnx_dir, TEXTS, max_length=24, tolerance=1e-4)
    assert report["max_abs_diff"] < 1e-4
    quantize_dynamic(onnx_dir, int8_dir, "avx2", per_channel=True)
    for extra in onnx_dir.glob("*.json"):
        (int8_dir / extra.name).write_bytes(extra.read_bytes()) if not (int8_dir / extra.name).exists() else None
    for extra in onnx_dir.glob("*.txt"):
        (int8_dir / extra.name).write_bytes(extra.read_bytes())
    fp32 = TorchClassifier(model_dir, 24).logits(TEXTS)
    int8 = OnnxClassifier(int8_dir, "model_quantized.onnx", 24).logits(TEXTS)
    assert int8.shape == fp32.shape
    assert (int8_dir / "model_quantized.onnx").stat().st_size < (onnx_dir / "model.onnx").stat().st_size


def test_a_new_recipe_is_one_module_and_one_section(teacher, params):
    """The README's example: a recipe registers itself, and build_student and the params find it by name."""
    from dataclasses import dataclass

    from textslim.params import check_param
    from textslim.students import registry
    from textslim.students.layers import build_layer_student
    from textslim.students.registry import BuildContext, Recipe, StudentBuild, register
    from textslim.train.losses import LossWeights

    @dataclass(frozen=True)
    class TinyParams:
        num_layers: int = 2

        def validate(self, section: str) -> None:
            check_param(self.num_layers >= 1, f"{section}.num_layers", "an integer >= 1", self.num_layers)

    def _build(ctx: BuildContext) -> StudentBuild:
        student, layers = build_layer_student(ctx.teacher, "first", ctx.section.num_layers)
        kd = LossWeights.from_alpha(ctx.params.distill.alpha, ctx.params.distill.temperature)
        return StudentBuild(student, ctx.teacher_tokenizer, ctx.params.distill, kd, {"recipe": "tiny"})

    register(Recipe("tiny", TinyParams, _build, describe=lambda s: f"tiny ({s.num_layers} layers)"))
    try:
        with_tiny = Params(distill=DistillParams(students=("tiny",)), recipes={"tiny": {"num_layers": 1}})
        check_recipes(with_tiny)
        build = _build_student_named("tiny", teacher, with_tiny)
        assert build.model.config.num_hidden_layers == 1 and build.recipe == {"recipe": "tiny"}
        with pytest.raises(TextslimError, match="tiny.num_layers = 0"):
            check_recipes(Params(distill=DistillParams(students=("tiny",)), recipes={"tiny": {"num_layers": 0}}))
    finally:
        registry._RECIPES.pop("tiny")


def _build_student_named(name, teacher, params):
    model, tokenizer = teacher
    return build_student(name, model, tokenizer, SPLITS, LABELS, params)


def test_an_unknown_recipe_lists_the_registered_ones(teacher, params):
    with pytest.raises(TextslimError, match="distill.students: unknown student recipe 'middle'; registered: first, "
                                            "last, odd, even, spread, pretrained, lora, lstm, setfit"):
        _build_student_named("middle", teacher, params)
