"""The cheap alternative every table shows: TF-IDF n-grams + logistic regression (scikit-learn)."""

import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from textslim.params import BaselineParams


def train_baseline(train: pd.DataFrame, params: BaselineParams, seed: int) -> Pipeline:
    """Fit TF-IDF (word 1..ngram_max grams, sublinear tf) and an L2 logistic regression on the training split."""
    pipeline = Pipeline([
        ("tfidf", TfidfVectorizer(ngram_range=(1, params.ngram_max), sublinear_tf=True, min_df=1)),
        ("logreg", LogisticRegression(C=params.c, max_iter=2000, random_state=seed)),
    ])
    return pipeline.fit(train["text"].tolist(), train["label"].to_numpy())
