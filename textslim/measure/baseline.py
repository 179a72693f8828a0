"""The cheap alternative every table shows: TF-IDF n-grams + logistic regression (scikit-learn), tuned as carefully
as the students are: a small grid, each point fitted on the training split and scored on the validation split.

The chosen point is the model fitted on train alone (no refit on train + validation), so the test split stays unseen
until the one final evaluation. Ties on validation macro-F1 go to higher validation accuracy, then to the first point
in grid order.
"""

import logging
import tempfile
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, PredefinedSplit
from sklearn.pipeline import FeatureUnion, Pipeline

from textslim.params import BaselineParams

log = logging.getLogger(__name__)

SELECTION_METRIC = "macro_f1"  # on the validation split; accuracy is recorded too and breaks ties
SCORERS = {"macro_f1": "f1_macro", "accuracy": "accuracy"}
CHAR_NGRAM_MIN = 2


def make_pipeline(seed: int) -> Pipeline:
    """Word and char_wb TF-IDF (sublinear tf) side by side, then an L2 logistic regression; the grid sets the
    n-gram ranges and C, and drops the vectorizer a setting does not use."""
    features = FeatureUnion([
        ("word", TfidfVectorizer(ngram_range=(1, 1), sublinear_tf=True, min_df=1)),
        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(CHAR_NGRAM_MIN, 5), sublinear_tf=True, min_df=1)),
    ])
    return Pipeline([("tfidf", features), ("logreg", LogisticRegression(C=1.0, max_iter=2000, random_state=seed))])


def param_grid(params: BaselineParams) -> list[dict]:
    """The grid in scikit-learn's terms: one sub-grid per feature kind, so that an n-gram range the kind does not
    use is not searched."""
    words = [(1, n) for n in params.word_ngram_max]
    chars = [(CHAR_NGRAM_MIN, n) for n in params.char_ngram_max]
    c = list(params.c)
    kinds = {"word": {"tfidf__char": ["drop"], "tfidf__word__ngram_range": words},
             "char": {"tfidf__word": ["drop"], "tfidf__char__ngram_range": chars},
             "word+char": {"tfidf__word__ngram_range": words, "tfidf__char__ngram_range": chars}}
    return [{**kinds[name], "logreg__C": c} for name in params.features]


def setting(candidate: dict) -> dict:
    """A grid point in params.yaml's terms: {features, word_ngram_max, char_ngram_max, c} (unused keys left out)."""
    word = candidate.get("tfidf__word") != "drop"
    char = candidate.get("tfidf__char") != "drop"
    out: dict = {"features": "word+char" if word and char else "word" if word else "char"}
    if word:
        out["word_ngram_max"] = int(candidate["tfidf__word__ngram_range"][1])
    if char:
        out["char_ngram_max"] = int(candidate["tfidf__char__ngram_range"][1])
    out["c"] = float(candidate["logreg__C"])
    return out


@dataclass(frozen=True)
class BaselineSearch:
    pipeline: Pipeline  # the chosen setting, fitted on the training split only
    chosen: dict  # its setting, as setting() writes it
    validation: dict  # its validation macro_f1 and accuracy
    grid: list[dict]  # every grid point: its setting and validation macro_f1 and accuracy
    seconds: float


def tune_baseline(train: pd.DataFrame, validation: pd.DataFrame, params: BaselineParams, seed: int) -> BaselineSearch:
    """Fit every grid point on train, score it on validation, return the best one (fitted on train) and the grid."""
    texts = train["text"].tolist() + validation["text"].tolist()
    labels = np.concatenate([train["label"].to_numpy(), validation["label"].to_numpy()])
    folds = PredefinedSplit(np.r_[np.full(len(train), -1), np.zeros(len(validation), dtype=int)])
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="textslim-baseline-") as cache:
        # The fitted vectorizers are cached: a feature setting is vectorized once for all its values of C.
        pipeline = make_pipeline(seed).set_params(memory=cache)
        search = GridSearchCV(pipeline, param_grid(params), scoring=SCORERS, cv=folds, refit=False, n_jobs=1,
                              error_score="raise")
        search.fit(texts, labels)
        results = search.cv_results_
        grid = [{**setting(candidate), "macro_f1": round(float(f1), 6), "accuracy": round(float(acc), 6)}
                for candidate, f1, acc in zip(results["params"], results["mean_test_macro_f1"],
                                              results["mean_test_accuracy"])]
        # max() keeps the first of equal keys: grid order breaks the remaining ties
        best = max(range(len(grid)), key=lambda i: (grid[i]["macro_f1"], grid[i]["accuracy"]))
        chosen = clone(pipeline).set_params(**results["params"][best])
        chosen.fit(train["text"].tolist(), train["label"].to_numpy())
        chosen.set_params(memory=None)
    seconds = time.perf_counter() - start
    point = {k: v for k, v in grid[best].items() if k not in SCORERS}
    log.info("baseline grid: %d points in %.1f s; best on validation %s: macro-F1 %.4f, accuracy %.4f", len(grid),
             seconds, point, grid[best]["macro_f1"], grid[best]["accuracy"])
    return BaselineSearch(chosen, point, {k: grid[best][k] for k in SCORERS}, grid, seconds)


def count_parameters(pipeline: Pipeline) -> int:
    """Weights of the logistic regression: one row per class (one for binary) over every feature, plus biases."""
    logreg = pipeline.named_steps["logreg"]
    return int(logreg.coef_.size + logreg.intercept_.size)
