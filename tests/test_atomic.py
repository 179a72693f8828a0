"""Outputs appear whole or not at all."""

import pytest

from textslim.atomic import atomic_dir, atomic_file


def test_failed_block_leaves_nothing_and_keeps_the_old_output(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "good.txt").write_text("previous result")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "half.txt").write_text("partial")
            raise RuntimeError("killed midway")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert (target / "good.txt").read_text() == "previous result"


def test_successful_block_replaces_the_output(tmp_path):
    target = tmp_path / "out"
    with atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("x")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    with atomic_file(tmp_path / "m.json") as tmp:
        tmp.write_text("{}")
    assert (tmp_path / "m.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "out"]
