"""scripts/call_overhead.py on a tiny models root: every step of every chain timed at each thread count, against the
same floor, with the same predictions as the HF tokenizer call; the IO-bound session answers like the plain one."""

import json
import sys

import numpy as np
import pandas as pd
import pytest

from tests.scripts import load_script
from tests.tiny import make_tiny_model, models_root, sentences

pytestmark = pytest.mark.slow  # exports and quantizes two models, then times them


def test_every_step_is_timed_against_one_floor_with_the_same_answers(tmp_path, monkeypatch):
    source = make_tiny_model(tmp_path / "bert", "bert", layers=2, seed=4)
    models, data = models_root(source, tmp_path)
    script = load_script("call_overhead")
    out, metrics = tmp_path / "overhead.md", tmp_path / "overhead.json"
    monkeypatch.setattr(sys, "argv", ["call_overhead.py", "--chains", "teacher", "s.heavy", "--models", str(models),
                                      "--data", str(data), "--latency-texts", "6", "--out", str(out),
                                      "--metrics", str(metrics)])
    script.main()
    record = json.loads(metrics.read_text())
    rows = pd.DataFrame(record["rows"])
    assert set(zip(rows["model"], rows["step"])) == {(m, s) for m in ("teacher-int8", "s.heavy-int8")
                                                     for s in script.STEPS}
    threads = sorted({1, record["threads"]})
    columns = [f"batch1_ms_{n}_threads" for n in threads]
    assert (rows[columns] > 0).all().all() and (rows["floor_ms"] > 0).all() and (rows["tokenizer_ms"] > 0).all()
    best = rows.apply(lambda r: r[f"batch1_ms_{r['batch1_best_threads']}_threads"], axis=1)
    assert np.allclose(best, rows[columns].min(axis=1))
    assert np.allclose(rows["batch1_vs_floor"], best / rows["floor_ms"])
    assert rows.groupby("model")["floor_ms"].nunique().eq(1).all()
    assert (rows["max_logit_difference"] < 1e-4).all()
    assert "| teacher-int8" in out.read_text() and "io-binding" in out.read_text()


def test_the_io_bound_session_gives_the_plain_sessions_logits(tmp_path):
    source = make_tiny_model(tmp_path / "bert", "bert", layers=2, seed=4)
    models, _ = models_root(source, tmp_path)
    script = load_script("call_overhead")
    texts = sentences(9, seed=2)["text"].tolist()
    plain, bound = (script.open_step(step, models / "quantized" / "teacher", 16, 1) for step in ("raw-encode",
                                                                                                  "io-binding"))
    assert type(bound) is script.IoBoundClassifier
    np.testing.assert_array_equal(bound.logits(texts), plain.logits(texts))
