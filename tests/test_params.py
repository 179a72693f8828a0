"""Bad params are rejected before any work, with the key's name in a one-line message."""

import pytest
import yaml

from textslim.errors import TextslimError
from textslim.params import load_params
from textslim.students.registry import check_recipes, recipe_section


def _load_all(path):
    """What `make repro` checks first: the pipeline's sections and every student recipe's section."""
    params = load_params(path)
    check_recipes(params)
    return params


def _write(tmp_path, overrides: dict):
    base = yaml.safe_load(open("params.yaml"))
    for dotted, value in overrides.items():
        section, key = dotted.split(".")
        base[section][key] = value
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(base))
    return path


def test_repository_params_are_valid():
    params = _load_all("params.yaml")
    assert recipe_section(params, "spread").num_layers < 6 and params.prune.amount < 1


@pytest.mark.parametrize("key, value, message", [
    ("distill.students", ["first", "middle"], "distill.students: unknown student recipe 'middle'; registered: first"),
    ("distill.students", ["first", "first"], "distill.students = ['first', 'first']"),
    ("distill.students", [], "distill.students"),
    ("quantize.preset", "avx1024", "quantize.preset = 'avx1024'"),
    ("quantize.embedding_bits", 2, "quantize.embedding_bits = 2"),
    ("quantize.embedding_block_size", 24, "quantize.embedding_block_size = 24"),
    ("prune.amount", 1.0, "prune.amount = 1.0"),
    ("prune.amount", -0.1, "prune.amount = -0.1"),
    ("distill.alpha", 1.5, "distill.alpha = 1.5"),
    ("distill.alpha", -0.01, "distill.alpha"),
    ("distill.temperature", 0, "distill.temperature = 0"),
    ("distill.temperature", -2.0, "distill.temperature"),
    ("spread.num_layers", 0, "spread.num_layers = 0"),
    ("spread.hidden_weight", -0.5, "spread.hidden_weight = -0.5"),
    ("spread.hidden_layer_map", [0, 1, 2, 3], "expected null or 3 teacher layer indices"),
    ("prune.method", "magnitude", "prune.method = 'magnitude'"),
    ("prune.vocabulary", "half", "prune.vocabulary = 'half'"),
    ("prune.recovery_hidden_weight", -1.0, "prune.recovery_hidden_weight = -1.0"),
    ("prune.steps", 0, "prune.steps = 0"),
    ("prune.steps", 1.5, "prune.steps = 1.5"),
    ("distill.seed", "one", "distill.seed = 'one'"),
    ("first.num_layers", -1, "first.num_layers = -1"),
    ("pretrained.model", "", "pretrained.model"),
    ("teacher.epochs", "three", "teacher.epochs = 'three'"),
    ("data.test_fraction", 0.7, "data.test_fraction"),
    ("teacher.head_dropout", 1.0, "teacher.head_dropout"),
    ("data.shots_per_class", 0, "data.shots_per_class"),
    ("lstm.soft_weight", -0.5, "lstm.soft_weight = -0.5"),
    ("lora.base", "middle", "lora.base = 'middle'"),
    ("lora.rank", 0, "lora.rank = 0"),
    ("setfit.shots_per_class", 0, "setfit.shots_per_class = 0"),
    ("setfit.num_iterations", -1, "setfit.num_iterations = -1"),
    ("setfit.contrastive_learning_rate", 0, "setfit.contrastive_learning_rate = 0"),
])
def test_bad_value_names_the_key(tmp_path, key, value, message):
    with pytest.raises(TextslimError, match=message.replace("[", r"\[").replace(".", r"\.")) as err:
        _load_all(_write(tmp_path, {key: value}))
    assert "\n" not in str(err.value)


def test_all_zero_loss_weights_are_rejected(tmp_path):
    path = _write(tmp_path, {"lstm.soft_weight": 0, "lstm.hard_weight": 0, "lstm.sequence_weight": 0})
    with pytest.raises(TextslimError, match="lstm.soft_weight/hard_weight/sequence_weight.*not all zero"):
        _load_all(path)


def test_unknown_key_is_named(tmp_path):
    with pytest.raises(TextslimError, match="unknown key prune.amout"):
        load_params(_write(tmp_path, {"prune.amout": 0.2}))


def test_unknown_section_is_named(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("pruning:\n  amount: 0.2\n")
    with pytest.raises(TextslimError, match="unknown section pruning.*one per student recipe: first, last"):
        _load_all(path)


def test_a_listed_student_needs_its_own_section(tmp_path):
    base = yaml.safe_load(open("params.yaml"))
    del base["lora"]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(base))
    with pytest.raises(TextslimError, match="distill.students names 'lora' but there is no `lora:` section"):
        _load_all(path)


def test_a_recipe_section_is_checked_only_where_students_are_built(tmp_path):
    # prepare_data and the teacher read params too: a recipe's section must not be their dependency.
    path = _write(tmp_path, {"lora.rank": 0})
    assert load_params(path).teacher.epochs >= 1
    with pytest.raises(TextslimError, match="lora.rank = 0"):
        recipe_section(load_params(path), "lora")


def test_missing_params_file(tmp_path):
    with pytest.raises(TextslimError, match="params file not found"):
        load_params(tmp_path / "nope.yaml")


def test_dvc_exp_run_exponent_floats_are_numbers(tmp_path):
    # `dvc exp run -S teacher.learning_rate=3e-5` writes `3e-05`, a string to PyYAML (YAML 1.1 wants a dot).
    path = tmp_path / "params.yaml"
    path.write_text(open("params.yaml").read().replace("learning_rate: 8.0e-5", "learning_rate: 3e-05"))
    assert load_params(path).teacher.learning_rate == pytest.approx(3e-5)


def test_per_channel_must_be_a_boolean(tmp_path):
    with pytest.raises(TextslimError, match="quantize.per_channel = 'yes'.*true or false"):
        load_params(_write(tmp_path, {"quantize.per_channel": "yes"}))
    assert load_params(_write(tmp_path, {"quantize.per_channel": True})).quantize.per_channel is True


@pytest.mark.parametrize("compress, message", [
    ({"variants": []}, "compress.variants = \\[\\] is not allowed"),
    ({"variants": ["heavy", "heavy"]}, "compress.variants = \\['heavy', 'heavy'\\]"),
    ({"variants": ["spread.heavy"]}, "compress.variants = 'spread.heavy'.*a '.' joins student and variant"),
    ({"variants": ["full", "mild"]}, "compress.settings.mild = None .*every listed variant"),
    ({"settings": {"heavy": {}, "full": {"methd": "none"}}, "variants": ["full"]},
     "unknown key compress.settings.full.methd"),
    ({"settings": {"heavy": {"head_fraction": 1.5}}, "variants": ["heavy"]},
     "prune.head_fraction = 1.5 .*\\(in compress.settings.heavy\\)"),
])
def test_bad_compression_variants_name_the_key(tmp_path, compress, message):
    base = yaml.safe_load(open("params.yaml"))
    base["compress"].update(compress)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(base))
    with pytest.raises(TextslimError, match=message):
        load_params(tmp_path / "params.yaml")


def test_a_variant_is_the_prune_section_with_its_keys_changed():
    params = load_params("params.yaml")
    light = params.compress.prune_settings(params.prune, "light")
    assert (light.head_fraction, light.ffn_fraction) == (0.25, 0.5)
    assert (light.method, light.recovery_epochs, light.vocabulary) == (params.prune.method,
                                                                        params.prune.recovery_epochs, "training")
    assert params.compress.prune_settings(params.prune, "heavy") == params.prune
    assert params.compress.prune_settings(params.prune, "full").method == "none"
    assert params.compress.chains(("first", "lstm"))[:2] == [f"first.{v}" for v in params.compress.variants[:2]]
