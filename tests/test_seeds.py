"""Aggregation over student seeds, from rows shaped like dvc.api.exp_show()'s."""

import pytest

from tests.scripts import load_script
from textslim.cli import run_stage
from textslim.errors import TextslimError
from textslim.measure.seeds import aggregate, runs_from_exp_show, seeds_markdown, within_spread


def _row(seed, a, b, name=None, rev="workspace", state=None):
    name = name if name is not None else (f"seed-{seed}" if rev != "workspace" else None)
    return {"Experiment": name, "rev": rev, "State": state if state is not None else ("Success" if name else None),
            "distill.seed": seed,
            "by_variant.a.heavy-int8.accuracy": a, "by_variant.a.heavy-int8.macro_f1": a - 0.01,
            "by_variant.a.heavy-int8.speedup_vs_teacher": 5.0,
            "by_variant.b-int8.accuracy": b, "by_variant.b-int8.macro_f1": b - 0.01,
            "by_variant.b-int8.speedup_vs_teacher": 6.0}


ROWS = [_row(42, 0.79, 0.81), _row(42, 0.70, 0.70, rev="main"), _row(1, 0.82, 0.79, rev="e7923ab"),
        _row(2, 0.85, 0.80, rev="c9c5fc8"),
        _row(3, 0.99, 0.99, rev="a1b2c3d", state="Running"),  # unfinished: its figures are still its baseline's
        _row(4, 0.50, 0.50, name="full-profile", rev="f00d"),  # another kind of experiment
        {"Experiment": "seed-5", "rev": "beef", "State": "Success", "distill.seed": 5,
         "by_variant.a.heavy-int8.accuracy": "None"}]  # a run whose summary is missing


def test_mean_sd_and_n_per_variant_each_seed_once():
    stats = aggregate(runs_from_exp_show(ROWS)).set_index("variant")
    assert stats.at["a.heavy-int8", "n"] == 3  # the workspace's seed 42 and the sweep's 1 and 2; nothing else
    assert stats.at["a.heavy-int8", "accuracy_mean"] == pytest.approx(0.82)
    assert stats.at["a.heavy-int8", "accuracy_std"] == pytest.approx(0.03)  # sample sd of 0.79, 0.82, 0.85
    assert stats.at["b-int8", "speedup_vs_teacher_mean"] == pytest.approx(6.0)


def test_pairs_closer_than_their_spread_are_named():
    stats = aggregate(runs_from_exp_show(ROWS))
    (a, b, gap, spread), = within_spread(stats)  # means 0.82 vs 0.80, 2 points apart; a's sd 3, b's 1
    assert {a, b} == {"a.heavy-int8", "b-int8"}
    assert gap == pytest.approx(0.02) and spread == pytest.approx(0.03)
    report = seeds_markdown(stats, [1, 2, 42])
    assert "82.00 ± 3.00" in report and "`a.heavy-int8` vs `b-int8`" in report


def test_nothing_to_aggregate_is_one_line():
    with pytest.raises(TextslimError, match="no finished run"):
        aggregate(runs_from_exp_show([]))


def test_an_empty_seed_list_names_the_param(monkeypatch, capsys):
    script = load_script("seed_sweep")
    monkeypatch.setattr("sys.argv", ["seed_sweep.py", "--seeds"])
    with pytest.raises(SystemExit) as done:
        run_stage(script.main)
    assert done.value.code == 2 and "--seeds (SEEDS in the Makefile): an empty list" in capsys.readouterr().err


def test_students_further_apart_than_their_spread_are_not_named():
    rows = [_row(1, 0.80, 0.70), _row(2, 0.81, 0.71, rev="x2"), _row(3, 0.82, 0.72, rev="x3")]
    assert within_spread(aggregate(runs_from_exp_show(rows))) == []


def test_one_seed_claims_nothing_about_seed_noise():
    stats = aggregate(runs_from_exp_show([_row(42, 0.79, 0.81)]))
    report = seeds_markdown(stats, [42])
    assert "One seed: no sd yet" in report and "differs by more than" not in report
