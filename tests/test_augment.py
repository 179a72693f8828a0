"""The augmented transfer set: neighbours by cosine, swaps only to neighbours, the teacher's labels, bad sizes."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from gensim.models import KeyedVectors

from tests.tiny import sentences
from textslim.data import write_prepared
from textslim.errors import TextslimError
from textslim.params import AugmentParams, load_params
from textslim.train.augment import augment_texts, neighbour_table
from textslim.train.transfer import NO_LABEL, augmented_texts, transfer_set

STAGES = Path(__file__).resolve().parents[1] / "stages"


def toy_vectors() -> KeyedVectors:
    """Six words in 2-d: good/great/fine point one way, bad/awful another, film is its own."""
    words = ["good", "great", "bad", "awful", "fine", "film"]
    vectors = np.array([[1, 0.1], [1, 0.2], [-1, 0.1], [-1, 0.2], [0.9, 0.3], [0, 1]], dtype=np.float32)
    kv = KeyedVectors(2)
    kv.add_vectors(words, vectors)
    return kv


def test_neighbours_are_the_nearest_by_cosine_without_the_word_itself():
    table = neighbour_table({"good", "bad", "unknown"}, toy_vectors(), neighbours=2, candidate_words=6)
    assert table == {"good": ["great", "fine"], "bad": ["awful", "film"]}  # unknown to GloVe: no entry


def test_candidate_words_limit_where_neighbours_come_from():
    table = neighbour_table({"good"}, toy_vectors(), neighbours=1, candidate_words=3)  # good, great, bad only
    assert table == {"good": ["great"]}


def test_every_known_word_is_swapped_for_a_neighbour_at_probability_one():
    cfg = AugmentParams(size=5, replace_probability=1.0, neighbours=1, candidate_words=6)
    texts, rows = augment_texts(["good film", "Bad day"], cfg, seed=0, vectors=toy_vectors())
    assert len(texts) == 5 and sorted(set(rows)) == [0, 1]  # round robin over the training texts
    swapped = {"good film": "great fine", "Bad day": "awful day"}  # film is nearest to fine; "day" is unknown
    assert all(text == swapped[["good film", "Bad day"][row]] for text, row in zip(texts, rows))


def test_punctuation_and_spacing_stay_where_they_were():
    cfg = AugmentParams(size=1, replace_probability=1.0, neighbours=1, candidate_words=6)
    texts, _ = augment_texts(["Good,  bad... (film)!"], cfg, seed=0, vectors=toy_vectors())
    assert texts == ["great,  awful... (fine)!"]  # "good," and "(film)" are swapped too: split on whitespace they
    # were never looked up
    kept, _ = augment_texts(["don't film"], cfg, seed=0, vectors=toy_vectors())
    assert kept == ["don't fine"]  # one word, unknown to the vectors: kept whole, not "don" + "t"


def test_copies_give_every_training_text_n_augmented_copies():
    cfg = AugmentParams(copies=3, replace_probability=1.0, neighbours=1, candidate_words=6)
    texts, rows = augment_texts(["good film", "Bad day", "film"], cfg, seed=0, vectors=toy_vectors())
    assert len(texts) == 9 and sorted(rows) == [0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_augmentation_is_seeded_and_size_zero_is_nothing():
    cfg = AugmentParams(size=20, replace_probability=0.5, neighbours=2, candidate_words=6)
    source = sentences(10)["text"].tolist() + ["good bad film"]
    assert augment_texts(source, cfg, 3, toy_vectors()) == augment_texts(source, cfg, 3, toy_vectors())
    assert augment_texts(source, AugmentParams(size=0), 3, toy_vectors()) == ([], [])


@pytest.mark.parametrize("key, value", [("size", -1), ("replace_probability", 0.0), ("neighbours", 0),
                                        ("candidate_words", 3), ("copies", -2), ("copies", 4)])
def test_bad_augment_params_are_named(tmp_path, key, value):
    path = tmp_path / "params.yaml"
    # copies 4 with size 10: one or the other
    path.write_text(yaml.safe_dump({"augment": {"neighbours": 5, "size": 10 if value == 4 else 0, key: value}}))
    with pytest.raises(TextslimError, match=f"augment.{key}"):
        load_params(path)


def _load_stage(name: str):
    spec = importlib.util.spec_from_file_location(f"stage_{name}", STAGES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_stage_labels_augmented_texts_with_the_teachers_logits(tmp_path, tiny_teacher, monkeypatch):
    frame = sentences(40)
    frame["label"] = frame["label"].map({"neg": 0, "pos": 1})
    (tmp_path / "prepared").mkdir()
    write_prepared({"train": frame, "validation": frame.head(8), "test": frame.head(8)}, ["neg", "pos"],
                   tmp_path / "prepared")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"augment": {"size": 12, "neighbours": 2,
                                                                      "candidate_words": 6}}))
    monkeypatch.setattr("textslim.students.lstm.load_glove", toy_vectors)
    stage = _load_stage("augment")
    monkeypatch.setattr(sys, "argv", ["augment.py", "--params", str(tmp_path / "params.yaml"), "--data",
                                      str(tmp_path / "prepared"), "--teacher", str(tiny_teacher), "--out",
                                      str(tmp_path / "augmented")])
    stage.main()
    texts = pd.read_parquet(tmp_path / "augmented" / "texts.parquet")
    logits = np.load(tmp_path / "augmented" / "teacher_logits.npy")
    assert len(texts) == 12 and logits.shape == (12, 2)
    from textslim.inference import TorchClassifier

    expected = TorchClassifier(tiny_teacher, 64).logits(texts["text"].tolist())
    np.testing.assert_allclose(logits, expected, atol=1e-5)

    transfer, transfer_logits = transfer_set(frame, np.zeros((40, 2), np.float32),
                                             {"augmented": augmented_texts(tmp_path / "augmented")})
    assert len(transfer) == 52 and transfer_logits.shape == (52, 2)
    assert (transfer["label"].iloc[40:] == NO_LABEL).all()  # no gold label: the teacher's logits teach them
    np.testing.assert_array_equal(transfer_logits[40:], logits)


def test_an_empty_augmented_set_leaves_the_transfer_set_alone(tmp_path):
    (tmp_path / "augmented").mkdir()
    pd.DataFrame({"text": pd.Series([], dtype=str), "source_row": pd.Series([], dtype="int64")}).to_parquet(
        tmp_path / "augmented" / "texts.parquet")
    np.save(tmp_path / "augmented" / "teacher_logits.npy", np.zeros((0, 2), np.float32))
    frame = sentences(4)
    transfer, logits = transfer_set(frame, np.ones((4, 2)), {"augmented": augmented_texts(tmp_path / "augmented"),
                                                              "unlabelled": ([], np.zeros((0, 2), np.float32))})
    assert transfer is frame and logits.shape == (4, 2)


def test_the_transfer_set_is_training_rows_then_each_unlabelled_group_without_a_hard_label():
    frame = sentences(4)
    scores = {"unlabelled": (["u1", "u2"], np.array([[0.0, 2.0], [3.0, 1.0]])),
              "augmented": (["a1"], np.array([[0.5, 0.1]]))}
    transfer, logits = transfer_set(frame, np.ones((4, 2)), scores)
    assert transfer["text"].tolist() == frame["text"].tolist() + ["u1", "u2", "a1"]
    assert transfer["label"].tolist()[4:] == [NO_LABEL] * 3  # the soft term alone learns from them
    np.testing.assert_array_equal(logits[4:], [[0.0, 2.0], [3.0, 1.0], [0.5, 0.1]])
