"""The TF-IDF baseline is tuned like the students: a grid scored on validation, the test split touched once."""

import json
import random
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from textslim.data import write_prepared
from textslim.errors import TextslimError
from textslim.measure.baseline import count_parameters, param_grid, tune_baseline
from textslim.params import BaselineParams, load_params

REPO = Path(__file__).resolve().parents[1]


def _suffix_data(n: int, seed: int) -> pd.DataFrame:
    """The class is the words' ending (-ing vs -ed) on stems never seen twice: only char n-grams can learn it."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = i % 2
        stems = ["".join(rng.choice("bcdfgklmnprstvz") + rng.choice("aeiou") for _ in range(3)) for _ in range(4)]
        rows.append({"text": " ".join(s + ("ing" if label else "ed") for s in stems), "label": label})
    return pd.DataFrame(rows)


def _small_grid(**kw) -> BaselineParams:
    return BaselineParams(**{"features": ("word", "char"), "word_ngram_max": (1,), "char_ngram_max": (4,),
                             "c": (1.0, 10.0), **kw})


def test_grid_picks_the_validation_best_setting():
    search = tune_baseline(_suffix_data(200, 0), _suffix_data(100, 1), _small_grid(), seed=0)
    assert len(search.grid) == 4
    assert search.chosen["features"] == "char"
    best = max(point["macro_f1"] for point in search.grid)
    assert search.validation["macro_f1"] == best > 0.9
    assert max(p["macro_f1"] for p in search.grid if p["features"] == "word") < 0.7
    chosen_row = next(p for p in search.grid if {k: p.get(k) for k in search.chosen} == search.chosen)
    assert chosen_row["macro_f1"] == best
    # the returned model is the chosen setting fitted on train: it scores on validation what the grid recorded
    predictions = search.pipeline.predict(_suffix_data(100, 1)["text"].tolist())
    assert (predictions == _suffix_data(100, 1)["label"].to_numpy()).mean() == pytest.approx(
        search.validation["accuracy"])
    assert search.pipeline.named_steps["tfidf"].get_params()["word"] == "drop"
    assert search.pipeline.memory is None
    assert count_parameters(search.pipeline) == search.pipeline.named_steps["logreg"].coef_.shape[1] + 1


def test_grid_only_searches_the_ngram_ranges_a_feature_kind_uses():
    grid = param_grid(BaselineParams(features=("word", "char", "word+char"), word_ngram_max=(1, 2),
                                     char_ngram_max=(4, 5), c=(1.0, 2.0, 4.0)))
    sizes = [len(sub["logreg__C"]) * len(sub.get("tfidf__word__ngram_range", [0]))
             * len(sub.get("tfidf__char__ngram_range", [0])) for sub in grid]
    assert sizes == [6, 6, 12]


def _params_file(tmp_path: Path, baseline: dict) -> Path:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["baseline"] = baseline
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


@pytest.mark.parametrize("baseline, fragment", [
    ({"features": []}, "baseline.features = [] is not allowed; expected a non-empty list"),
    ({"features": ["word", "bigram"]}, "baseline.features = 'bigram' is not allowed; expected a list of names from"),
    ({"features": ["char", "char"]}, "baseline.features = ['char', 'char'] is not allowed; expected a list of"),
    ({"word_ngram_max": [0]}, "baseline.word_ngram_max = 0"),
    ({"word_ngram_max": 2}, "baseline.word_ngram_max = 2 is not allowed; expected a list"),
    ({"char_ngram_max": [1, 5]}, "baseline.char_ngram_max = 1"),
    ({"c": [1, 0]}, "baseline.c = 0.0"),
    ({"c": []}, "baseline.c = []"),
    ({"c": ["big"]}, "baseline.c = 'big'"),
    ({"ngram_max": 2}, "unknown key baseline.ngram_max"),
])
def test_bad_grid_params_are_rejected_naming_the_key(tmp_path, baseline, fragment):
    with pytest.raises(TextslimError) as err:
        load_params(_params_file(tmp_path, baseline))
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_repo_params_load_as_lists():
    params = load_params(REPO / "params.yaml").baseline
    assert params.features and params.c and all(isinstance(c, float) for c in params.c)


def test_stage_writes_the_chosen_setting_grid_and_test_metrics(tmp_path, monkeypatch):
    from stages import baseline as stage

    splits = {"train": _suffix_data(200, 0), "validation": _suffix_data(100, 1), "test": _suffix_data(100, 2)}
    write_prepared(splits, ["ed", "ing"], tmp_path)
    params = _params_file(tmp_path, {"features": ["word", "char", "word+char"], "word_ngram_max": [1],
                                     "char_ngram_max": [4], "c": [1, 10]})
    out, metrics_out = tmp_path / "model", tmp_path / "metrics" / "baseline.json"
    monkeypatch.setattr(sys, "argv", ["baseline", "--params", str(params), "--data", str(tmp_path),
                                      "--out", str(out), "--metrics-out", str(metrics_out)])
    stage.main()
    metrics = json.loads(metrics_out.read_text())
    # what compare/report read
    assert metrics["params"] > 0 and metrics["size_bytes"] == (out / "model.joblib").stat().st_size
    assert set(metrics["test"]) >= {"accuracy", "macro_f1", "per_class", "confusion_matrix"}
    # what was chosen and why
    assert len(metrics["grid"]) == 6
    best = max(metrics["grid"], key=lambda p: (p["macro_f1"], p["accuracy"]))
    assert metrics["chosen"] == {k: v for k, v in best.items() if k not in ("macro_f1", "accuracy")}
    assert metrics["chosen"]["features"] in ("char", "word+char")
    assert metrics["validation"] == {"macro_f1": best["macro_f1"], "accuracy": best["accuracy"]}
    assert "validation macro_f1" in metrics["selected_by"]
    assert metrics["test"]["accuracy"] > 0.9
