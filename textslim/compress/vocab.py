"""Vocabulary trimming: keep the WordPiece entries a corpus uses, slice the word embeddings, rebuild the tokenizer.

Hand-written rather than TextPruner (the issue asked to try it first): TextPruner's vocabulary pruner only maps
BERT-like model types (no MPNet), keeps no single-character pieces (an unseen word becomes [UNK] instead of being
spelled out), writes a bare vocab.txt that the caller must reload into a tokenizer, and pulls in sentencepiece and
protobuf, which the pinned stack does not carry. Everything here goes through the tokenizers JSON instead, so the
normalizer, pre-tokenizer, post-processor and decoder survive unchanged and save_pretrained writes a matching
vocab.txt and tokenizer.json.
"""

import json
import logging
from collections.abc import Iterable

import torch
from torch import nn

from textslim.errors import TextslimError

log = logging.getLogger(__name__)

CONFIG_TOKEN_IDS = ("pad_token_id", "bos_token_id", "eos_token_id", "sep_token_id", "cls_token_id")


def _backend_state(tokenizer) -> dict:
    """The fast tokenizer's JSON state, after checking that its model is WordPiece."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    state = json.loads(backend.to_str()) if backend is not None else {}
    if state.get("model", {}).get("type") != "WordPiece":
        raise TextslimError(f"vocabulary trimming needs a fast WordPiece tokenizer (BERT, MPNet); "
                            f"got {type(tokenizer).__name__} with a {state.get('model', {}).get('type')} model")
    return state


def kept_token_ids(tokenizer, texts: list[str], max_length: int | None = None, batch_size: int = 1024) -> list[int]:
    """Sorted ids of the special tokens, every single-character piece, and every id the texts tokenize to."""
    state = _backend_state(tokenizer)
    prefix = state["model"]["continuing_subword_prefix"]
    kept = set(tokenizer.all_special_ids) | {token["id"] for token in state["added_tokens"]}
    # Single characters (bare and continuing) let any unseen word be spelled out instead of collapsing to [UNK].
    kept |= {i for piece, i in state["model"]["vocab"].items() if len(piece.removeprefix(prefix)) == 1}
    # Keep every id up to the pad id so that it never moves: MPNet and RoBERTa derive position ids from it.
    if tokenizer.pad_token_id is not None:
        kept |= set(range(tokenizer.pad_token_id + 1))
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(list(texts[start:start + batch_size]), add_special_tokens=False,
                          truncation=max_length is not None, max_length=max_length)
        for ids in batch["input_ids"]:
            kept.update(ids)
    return sorted(kept)


def uncovered_fraction(tokenizer, kept_ids: Iterable[int], texts: list[str]) -> float:
    """Fraction of texts whose original tokenization uses an id outside kept_ids (they will tokenize differently)."""
    kept = set(kept_ids)
    ids = tokenizer(list(texts), add_special_tokens=False)["input_ids"] if texts else []
    return sum(not kept.issuperset(row) for row in ids) / max(len(ids), 1)


def _remap_post_processor(processor: dict | None, new_id: dict[int, int]) -> None:
    """Point the post-processor's special tokens at their new ids (Template, Bert, Roberta, or a Sequence of them)."""
    if not processor:
        return
    for inner in processor.get("processors", []):
        _remap_post_processor(inner, new_id)
    for spec in processor.get("special_tokens", {}).values():
        spec["ids"] = [new_id[i] for i in spec["ids"]]
    for key in ("sep", "cls"):
        if key in processor:
            processor[key][1] = new_id[processor[key][1]]


def trimmed_tokenizer(tokenizer, kept: list[int]):
    """A tokenizer of the same class whose vocabulary is the kept ids, in their original order, renumbered 0..n-1."""
    from tokenizers import Tokenizer

    state = _backend_state(tokenizer)
    new_id = {old: new for new, old in enumerate(kept)}
    state["model"]["vocab"] = {piece: new_id[i] for piece, i in state["model"]["vocab"].items() if i in new_id}
    for token in state["added_tokens"]:
        token["id"] = new_id[token["id"]]
    if state.get("padding"):
        state["padding"]["pad_id"] = new_id[state["padding"]["pad_id"]]
    _remap_post_processor(state.get("post_processor"), new_id)
    # The old vocab file and id->token table describe the untrimmed vocabulary; the backend is now the only truth.
    stale = ("vocab_file", "tokenizer_file", "tokenizer_object", "added_tokens_decoder", "name_or_path")
    kwargs = {k: v for k, v in tokenizer.init_kwargs.items() if k not in stale}
    trimmed = type(tokenizer)(tokenizer_object=Tokenizer.from_str(json.dumps(state)), **kwargs)
    trimmed.model_max_length = tokenizer.model_max_length
    return trimmed


def trim_vocabulary(model, tokenizer, texts: list[str], extra_texts: Iterable[str] = (),
                    max_length: int | None = None) -> tuple[nn.Module, object, dict]:
    """Slice the model's word embeddings (in place) and the tokenizer to the ids texts and extra_texts use."""
    corpus = list(texts) + list(extra_texts)
    model, trimmed, report = trim_to_ids(model, tokenizer, kept_token_ids(tokenizer, corpus, max_length))
    report["texts"] = len(corpus)
    log.info("vocabulary trimmed from %d to %d entries (%d texts): embeddings %.2fM -> %.2fM parameters",
             report["vocab_before"], report["vocab_after"], len(corpus), report["embedding_params_before"] / 1e6,
             report["embedding_params_after"] / 1e6)
    return model, trimmed, report


def trim_to_ids(model, tokenizer, kept_ids: Iterable[int]) -> tuple[nn.Module, object, dict]:
    """Slice the model's word embeddings (in place) and the tokenizer to kept_ids and the config's special ids."""
    if model.get_output_embeddings() is not None:
        raise TextslimError("vocabulary trimming supports classifiers only; this model has a vocabulary-sized "
                            "output layer")
    config = model.config
    kept = set(kept_ids)
    kept |= {getattr(config, key) for key in CONFIG_TOKEN_IDS if getattr(config, key, None) is not None}
    kept = sorted(kept)
    new_id = {old: new for new, old in enumerate(kept)}

    old = model.get_input_embeddings()
    if kept[-1] >= old.num_embeddings:
        raise TextslimError(f"the tokenizer produces id {kept[-1]} but the model has only {old.num_embeddings} "
                            "embedding rows; are they from the same checkpoint?")
    padding_idx = None if old.padding_idx is None else new_id[old.padding_idx]
    new = nn.Embedding(len(kept), old.embedding_dim, padding_idx=padding_idx, device=old.weight.device,
                       dtype=old.weight.dtype)
    with torch.no_grad():
        new.weight.copy_(old.weight[torch.tensor(kept, device=old.weight.device)])
    model.set_input_embeddings(new)
    for module in model.modules():
        # MPNet-style embeddings build position ids from the pad id; a moved pad would shift every position.
        if hasattr(module, "word_embeddings") and getattr(module, "padding_idx", None) is not None:
            if new_id.get(module.padding_idx) != module.padding_idx:
                raise TextslimError(f"vocabulary trimming would move the pad id {module.padding_idx} that "
                                    f"{type(module).__name__} derives position ids from")
    for key in CONFIG_TOKEN_IDS:
        if getattr(config, key, None) is not None:
            setattr(config, key, new_id[getattr(config, key)])
    before = config.vocab_size
    config.vocab_size = len(kept)

    trimmed = trimmed_tokenizer(tokenizer, kept)
    report = {"vocab_before": before, "vocab_after": len(kept), "embedding_params_before": old.weight.numel(),
              "embedding_params_after": new.weight.numel()}
    return model, trimmed, report
