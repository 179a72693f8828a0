"""Vocabulary trimming on tiny BERT and MPNet classifiers: same logits, no new [UNK]s, saves, loads and exports."""

import string
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.tiny import FILLER, NEGATIVE, POSITIVE, sentences, tiny_config
from textslim.compress.vocab import kept_token_ids, trim_vocabulary, uncovered_fraction
from textslim.errors import TextslimError

# Whole words never used by sentences(): trimming must drop them, and they must then be spelled out, not [UNK].
UNUSED = "zebra quartz whisky nymph jovial galaxy puzzle rhythm oxygen vortex".split()
CHARS = list(string.ascii_lowercase + string.digits)
# Unused slots push the specials that trimming renumbers (and the post-processor names) off their old ids, as in
# the real vocabs: BERT's [CLS] is 101 behind [unused0-98]. MPNet's pad must stay 1, so its </s> moves instead.
UNUSED_SLOTS = [f"[unused{i}]" for i in range(10)]
BERT_SPECIAL = ["[PAD]", *UNUSED_SLOTS, "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
MPNET_SPECIAL = ["<s>", "<pad>", *UNUSED_SLOTS, "</s>", "<unk>"]  # <mask> goes last, as in all-mpnet-base-v2


def make_model_dir(out_dir: Path, arch: str) -> Path:
    """A 2-layer classifier whose vocab also has every letter and digit, bare and as ##piece, plus unused words."""
    from transformers import AutoModelForSequenceClassification, BertTokenizerFast, MPNetTokenizerFast

    words = FILLER + POSITIVE + NEGATIVE + UNUSED + CHARS + ["##" + c for c in CHARS] + ["##s", "##ing"]
    words = list(dict.fromkeys(words))  # "a" is both a filler word and a letter; a repeated line leaves an id hole
    out_dir.mkdir(parents=True, exist_ok=True)
    vocab = out_dir / "vocab.txt"
    if arch == "bert":
        vocab.write_text("\n".join(BERT_SPECIAL + words) + "\n", encoding="utf-8")
        tokenizer = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True, model_max_length=64)
    else:
        vocab.write_text("\n".join(MPNET_SPECIAL + words + ["<mask>"]) + "\n", encoding="utf-8")
        tokenizer = MPNetTokenizerFast(vocab_file=str(vocab), do_lower_case=True, unk_token="<unk>",
                                       model_max_length=64)
    torch.manual_seed(0)
    config = tiny_config(arch, layers=2, vocab_size=len(tokenizer))
    if arch == "mpnet":
        config.bos_token_id, config.eos_token_id = tokenizer.bos_token_id, tokenizer.eos_token_id
    assert config.pad_token_id == tokenizer.pad_token_id
    AutoModelForSequenceClassification.from_config(config).save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


@pytest.fixture(scope="module", params=["bert", "mpnet"])
def trimmed(request, tmp_path_factory) -> dict:
    """An untouched model+tokenizer and a trimmed copy, trimmed on 60 tiny reviews."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model_dir = make_model_dir(tmp_path_factory.mktemp(request.param) / "model", request.param)
    before = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    texts = sentences(60)["text"].tolist()
    model, new_tokenizer, report = trim_vocabulary(
        AutoModelForSequenceClassification.from_pretrained(model_dir), tokenizer, texts)
    return {"arch": request.param, "dir": model_dir, "before": before, "tokenizer": tokenizer, "texts": texts,
            "model": model.eval(), "new_tokenizer": new_tokenizer, "report": report}


def logits(model, tokenizer, texts: list[str]) -> np.ndarray:
    with torch.inference_mode():
        return model(**tokenizer(texts, padding=True, return_tensors="pt")).logits.numpy()


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_logits_unchanged_for_kept_texts(trimmed):
    texts = trimmed["texts"][:16] + ["the movie was good", "a clever 42 film"]
    assert uncovered_fraction(trimmed["tokenizer"], kept_token_ids(trimmed["tokenizer"], trimmed["texts"]), texts) == 0
    old_tokens = [trimmed["tokenizer"].tokenize(t) for t in texts]
    assert old_tokens == [trimmed["new_tokenizer"].tokenize(t) for t in texts]
    np.testing.assert_allclose(logits(trimmed["model"], trimmed["new_tokenizer"], texts),
                               logits(trimmed["before"], trimmed["tokenizer"], texts), atol=1e-6, rtol=0)


def test_unseen_word_is_spelled_out_not_unk(trimmed):
    tokenizer, new = trimmed["tokenizer"], trimmed["new_tokenizer"]
    text = "the zebra movie"  # "zebra" was a whole-word entry, but no trimming text used it
    assert "zebra" in tokenizer.get_vocab() and "zebra" not in new.get_vocab()
    assert uncovered_fraction(tokenizer, kept_token_ids(tokenizer, trimmed["texts"]), [text, "the movie"]) == 0.5
    assert new.tokenize(text) == ["the", "z", "##e", "##b", "##r", "##a", "movie"]
    ids = new(text)["input_ids"]
    assert new.unk_token_id not in ids
    assert new.decode(ids, skip_special_tokens=True) == text


def test_save_load_and_onnx_export(trimmed, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from textslim.compress.onnx_export import export_to_onnx, parity

    saved = tmp_path / "trimmed"
    trimmed["model"].save_pretrained(saved)
    trimmed["new_tokenizer"].save_pretrained(saved)
    new = trimmed["new_tokenizer"]
    vocab_lines = (saved / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert vocab_lines == sorted(new.get_vocab(), key=new.get_vocab().get)
    assert len(vocab_lines) == trimmed["report"]["vocab_after"]

    loaded_tokenizer = AutoTokenizer.from_pretrained(saved)
    assert type(loaded_tokenizer) is type(trimmed["tokenizer"])
    texts = trimmed["texts"][:8] + ["the zebra movie", "qwerty!"]
    assert loaded_tokenizer(texts)["input_ids"] == new(texts)["input_ids"]
    loaded = AutoModelForSequenceClassification.from_pretrained(saved).eval()
    np.testing.assert_allclose(logits(loaded, loaded_tokenizer, texts), logits(trimmed["model"], new, texts),
                               atol=1e-6, rtol=0)

    export_to_onnx(saved, tmp_path / "onnx")
    parity(saved, tmp_path / "onnx", texts, max_length=32, tolerance=1e-4)


def test_parameter_count_drops_by_removed_rows(trimmed):
    report, config = trimmed["report"], trimmed["model"].config
    removed = report["vocab_before"] - report["vocab_after"]
    assert removed >= len(UNUSED)
    assert report["vocab_after"] == config.vocab_size == len(trimmed["new_tokenizer"])
    count = n_params(trimmed["before"]) - n_params(trimmed["model"])
    assert count == removed * config.hidden_size
    assert report["embedding_params_before"] - report["embedding_params_after"] == count
    assert report["texts"] == len(trimmed["texts"])


def test_special_tokens_match_config(trimmed):
    new, config, model = trimmed["new_tokenizer"], trimmed["model"].config, trimmed["model"]
    assert new.pad_token_id == config.pad_token_id == model.get_input_embeddings().padding_idx
    assert new.convert_ids_to_tokens(new.all_special_ids) == trimmed["tokenizer"].all_special_tokens
    batch = new(["the movie", "a very good film"], padding=True)["input_ids"]
    assert batch[0][0] == batch[1][0] == new.cls_token_id
    assert batch[0][-1] == new.pad_token_id and batch[1][-1] == new.sep_token_id
    if trimmed["arch"] == "mpnet":
        assert (new.bos_token_id, new.eos_token_id) == (config.bos_token_id, config.eos_token_id)
        assert model.base_model.embeddings.padding_idx == new.pad_token_id == 1
        assert new.mask_token == "<mask>" and new.mask_token_id == len(new) - 1
    old = trimmed["tokenizer"]
    assert new.sep_token_id < old.sep_token_id  # it really moved: the post-processor had to be rewritten
    for name in ("pad_token", "cls_token", "sep_token", "unk_token", "mask_token"):
        assert getattr(new, name) == getattr(old, name)


def test_rejects_non_wordpiece_tokenizer():
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    word_level = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(WordLevel({"[UNK]": 0}, unk_token="[UNK]")))
    with pytest.raises(TextslimError, match="WordPiece"):
        kept_token_ids(word_level, ["hello"])
