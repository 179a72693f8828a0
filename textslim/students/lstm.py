"""The `lstm` student: a bidirectional LSTM with attention pooling over word embeddings, shaped like a HF classifier.

The model itself (textslim.architectures.bilstm) is registered with the Auto classes, so the pipeline loads, trains
and exports it like any other student. Its word vocabulary is a `tokenizers` WordLevel model saved with it, loadable
by AutoTokenizer.
"""

import hashlib
import logging
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
from torch import nn
from transformers import PreTrainedTokenizerFast

from textslim.architectures.bilstm import BiLstmConfig, BiLstmEncoder, BiLstmForSequenceClassification
from textslim.errors import TextslimError
from textslim.params import TrainParams, check_param
from textslim.students.registry import BuildContext, Recipe, StudentBuild, register
from textslim.students.torch_export import export_torch_onnx

log = logging.getLogger(__name__)

PAD, UNK = "[PAD]", "[UNK]"
GLOVE = "builtin:glove-6b-50d"
EMBEDDING_SOURCES = ("word2vec", GLOVE)


@dataclass(frozen=True)
class LstmParams(TrainParams):
    """The BiLSTM student trains with its own loop settings: it starts from scratch, not from a teacher."""

    epochs: int = 6
    batch_size: int = 64
    learning_rate: float = 2e-3
    head_learning_rate: float = 2e-3
    warmup_ratio: float = 0.0
    early_stopping_patience: int = 2
    embeddings: str = "word2vec"  # word2vec (trained on the training texts) | builtin:glove-6b-50d
    embedding_dim: int = 100
    hidden_size: int = 128
    dropout: float = 0.3
    min_count: int = 2
    max_vocab: int = 30000
    soft_weight: float = 0.5  # T^2 * KL(teacher_T || student_T)
    hard_weight: float = 0.25  # CE against the gold labels
    sequence_weight: float = 0.25  # CE against the teacher's argmax

    def validate(self, section: str) -> None:
        self.validate_train(section)
        for name in ("embedding_dim", "hidden_size", "min_count", "max_vocab"):
            check_param(getattr(self, name) >= 1, f"{section}.{name}", "an integer >= 1", getattr(self, name))
        check_param(0 <= self.dropout < 1, f"{section}.dropout", "a fraction in [0, 1)", self.dropout)
        weights = {"soft_weight": self.soft_weight, "hard_weight": self.hard_weight,
                   "sequence_weight": self.sequence_weight}
        for name, value in weights.items():
            check_param(value >= 0, f"{section}.{name}", "a number >= 0", value)
        check_param(sum(weights.values()) > 0, f"{section}.soft_weight/hard_weight/sequence_weight", "not all zero",
                    list(weights.values()))


def prunable_lstm_weights(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """(module, parameter name) for every LSTM input/recurrent weight, both directions, and the attention Linears."""
    pairs: list[tuple[nn.Module, str]] = []
    for module in model.modules():
        if isinstance(module, nn.LSTM):
            pairs += [(module, name) for name, _ in module.named_parameters(recurse=False)
                      if name.startswith(("weight_ih_l", "weight_hh_l"))]
        elif isinstance(module, BiLstmEncoder):
            pairs += [(module.attention, "weight"), (module.score, "weight")]
    return pairs


def _word_splitter() -> Tokenizer:
    """A WordLevel tokenizer with an empty vocabulary: just the normalizer and pre-tokenizer every path shares."""
    tokenizer = Tokenizer(models.WordLevel(vocab={PAD: 0, UNK: 1}, unk_token=UNK))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()  # words and punctuation apart, as GloVe has them
    return tokenizer


def split_words(texts: list[str]) -> list[list[str]]:
    """Each text as the lowercased words and punctuation marks the word tokenizer sees."""
    splitter = _word_splitter()
    return [[word for word, _ in splitter.pre_tokenizer.pre_tokenize_str(splitter.normalizer.normalize_str(text))]
            for text in texts]


def build_word_tokenizer(texts: list[str], min_count: int, max_vocab: int) -> PreTrainedTokenizerFast:
    """A word-level tokenizer over words seen >= min_count times: [PAD]=0, [UNK]=1, at most max_vocab entries."""
    counts = Counter(word for words in split_words(texts) for word in words)
    # Frequency, then the word itself: the same texts always give the same ids.
    ranked = sorted((w for w, c in counts.items() if c >= min_count and w not in (PAD, UNK)),
                    key=lambda w: (-counts[w], w))
    vocab = {PAD: 0, UNK: 1} | {word: i + 2 for i, word in enumerate(ranked[:max(max_vocab - 2, 0)])}
    backend = _word_splitter()
    backend.model = models.WordLevel(vocab=vocab, unk_token=UNK)
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token=PAD, unk_token=UNK, padding_side="right",
                                   model_input_names=["input_ids", "attention_mask"])


def _stable_hash(text: str) -> int:
    """A process-independent hash: gensim seeds each word's initial vector with it (Python's hash() is salted)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=4).digest(), "little")


def load_glove():
    """The 400k x 50 GloVe 6B vectors shipped with the builtin:glove-6b-50d asset, as gensim KeyedVectors."""
    import pandas as pd
    from gensim.models import KeyedVectors

    from textslim.assets import resolve_model

    folder = resolve_model(GLOVE, key="lstm.embeddings")
    words = pd.read_parquet(folder / "glove_6B_index.parquet")["index"].astype(str).tolist()
    vectors = np.load(folder / "glove_6B_50d_emb.npy")
    kv = KeyedVectors(vectors.shape[1])
    kv.add_vectors(words, vectors.astype(np.float32, copy=False))
    return kv


def word_vectors(source: str, texts: list[str], dim: int, seed: int):
    """Word vectors from `lstm.embeddings`: Word2Vec trained on the texts (dim wide), or the shipped 50-d GloVe."""
    if source == "word2vec":
        from gensim.models import Word2Vec

        model = Word2Vec(split_words(texts), vector_size=dim, window=5, min_count=1, sg=1, epochs=10, workers=1,
                         seed=seed, hashfxn=_stable_hash)
        return model.wv
    if source == GLOVE:
        return load_glove()
    raise TextslimError(f"lstm.embeddings: unknown embedding source {source!r}; "
                        f"one of: {', '.join(EMBEDDING_SOURCES)}")


def coverage(tokenizer: PreTrainedTokenizerFast, vectors) -> float:
    """Fraction of the vocabulary's words (special tokens aside) that the word vectors know."""
    words = [w for w in tokenizer.get_vocab() if w not in (PAD, UNK)]
    return sum(w in vectors.key_to_index for w in words) / max(len(words), 1)


def embedding_matrix(tokenizer: PreTrainedTokenizerFast, vectors, seed: int) -> torch.Tensor:
    """(vocab, dim) rows: the word's vector where known, small seeded random values otherwise, zeros for [PAD]."""
    vocab = tokenizer.get_vocab()
    rng = np.random.default_rng(seed)
    # Random rows at the known vectors' spread, so unknown words start neither dominant nor negligible.
    scale = float(vectors.vectors.std()) if len(vectors.key_to_index) else 0.1
    matrix = rng.normal(0.0, scale, size=(len(vocab), vectors.vector_size)).astype(np.float32)
    for word, index in vocab.items():
        if word in vectors.key_to_index:
            matrix[index] = vectors[word]
    matrix[vocab[PAD]] = 0.0
    log.info("word vectors cover %.1f%% of the %d-word vocabulary", 100 * coverage(tokenizer, vectors), len(vocab))
    return torch.from_numpy(matrix)


def build_lstm_student(train_texts: list[str], labels: list[str], embeddings: str, embedding_dim: int,
                       hidden_size: int, dropout: float, min_count: int, max_vocab: int,
                       seed: int) -> tuple[BiLstmForSequenceClassification, PreTrainedTokenizerFast, dict]:
    """The untrained BiLSTM student, its word tokenizer, and the recipe; labels are the class names in id order."""
    if embeddings not in EMBEDDING_SOURCES:  # before the slow parts: a typo fails at once
        word_vectors(embeddings, [], embedding_dim, seed)
    tokenizer = build_word_tokenizer(train_texts, min_count, max_vocab)
    vectors = word_vectors(embeddings, train_texts, embedding_dim, seed)
    torch.manual_seed(seed)
    config = BiLstmConfig(vocab_size=len(tokenizer), embedding_dim=vectors.vector_size, hidden_size=hidden_size,
                          dropout=dropout, id2label=dict(enumerate(labels)),
                          label2id={name: i for i, name in enumerate(labels)})
    model = BiLstmForSequenceClassification(config)
    with torch.no_grad():
        model.bilstm.embeddings.weight.copy_(embedding_matrix(tokenizer, vectors, seed))
    recipe = {"recipe": "lstm", "embeddings": embeddings, "embedding_dim": vectors.vector_size,
              "vocab_size": len(tokenizer), "coverage": round(coverage(tokenizer, vectors), 4),
              "hidden_size": hidden_size, "num_layers": config.num_layers, "dropout": dropout,
              "min_count": min_count, "max_vocab": max_vocab, "params": model.num_parameters()}
    if embeddings == GLOVE and embedding_dim != vectors.vector_size:
        recipe["note"] = f"GloVe vectors are {vectors.vector_size}-d; lstm.embedding_dim = {embedding_dim} is unused"
    return model, tokenizer, recipe


def _build(ctx: BuildContext) -> StudentBuild:
    from textslim.train.losses import LossWeights

    lp = ctx.section
    # Its words come from every text it distils on: with few labels, most of them are in the unlabelled texts.
    student, tokenizer, recipe = build_lstm_student(ctx.transfer_texts, ctx.labels, lp.embeddings, lp.embedding_dim,
                                                    lp.hidden_size, lp.dropout, lp.min_count, lp.max_vocab,
                                                    ctx.params.distill.seed)
    weights = LossWeights(hard=lp.hard_weight, soft=lp.soft_weight, sequence=lp.sequence_weight,
                          temperature=ctx.params.distill.temperature)
    return StudentBuild(student, tokenizer, lp, weights, recipe)


register(Recipe("lstm", LstmParams, _build, export=export_torch_onnx,
                describe=lambda s: f"lstm (BiLSTM on {s.embeddings})"))
