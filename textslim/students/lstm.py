"""The `lstm` student: a bidirectional LSTM with attention pooling over word embeddings, shaped like a HF classifier.

It registers itself with the Auto classes at import, so the pipeline loads, trains and exports it like any other
student. Its word vocabulary is a `tokenizers` WordLevel model saved with it, loadable by AutoTokenizer.

Padding is ignored without pack_padded_sequence (which exports badly to ONNX with dynamic shapes): the forward
direction never sees right padding before a real token, the backward direction runs on each row reversed within its
own length (so padding again comes last), and attention pooling masks the padded positions out.
"""

import hashlib
import logging
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)
from transformers.modeling_outputs import SequenceClassifierOutput

from textslim.errors import TextslimError
from textslim.params import TrainParams, check_param
from textslim.students.registry import BuildContext, Recipe, StudentBuild, register
from textslim.students.torch_export import export_torch_onnx

log = logging.getLogger(__name__)

MODEL_TYPE = "textslim-bilstm"
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


class BiLstmConfig(PretrainedConfig):
    """Sizes of the BiLSTM student; num_labels, id2label and label2id as in every HF config."""

    model_type = MODEL_TYPE

    def __init__(self, vocab_size: int = 2, embedding_dim: int = 50, hidden_size: int = 64, num_layers: int = 1,
                 dropout: float = 0.2, pad_token_id: int = 0, **kwargs):
        super().__init__(pad_token_id=pad_token_id, **kwargs)
        self.vocab_size, self.embedding_dim, self.hidden_size = vocab_size, embedding_dim, hidden_size
        self.num_layers, self.dropout = num_layers, dropout


def _reverse_within_length(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row's first `length` steps and leave its padding in place (its own inverse)."""
    steps = torch.arange(x.shape[1], device=x.device).unsqueeze(0)
    index = torch.where(steps < lengths.unsqueeze(1), lengths.unsqueeze(1) - 1 - steps, steps)
    return torch.gather(x, 1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


class BiLstmEncoder(nn.Module):
    """Embedding -> stacked bidirectional LSTM -> additive attention pooling: one vector of 2 * hidden per text."""

    def __init__(self, config: BiLstmConfig):
        super().__init__()
        self.embeddings = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=config.pad_token_id)
        self.dropout = nn.Dropout(config.dropout)
        # One unidirectional LSTM per direction and layer: the backward one must start at each row's last real
        # token, which a single bidirectional nn.LSTM cannot do on a right-padded batch without packing.
        sizes = [config.embedding_dim] + [2 * config.hidden_size] * (config.num_layers - 1)
        self.fw = nn.ModuleList(nn.LSTM(size, config.hidden_size, batch_first=True) for size in sizes)
        self.bw = nn.ModuleList(nn.LSTM(size, config.hidden_size, batch_first=True) for size in sizes)
        self.attention = nn.Linear(2 * config.hidden_size, config.hidden_size)
        self.score = nn.Linear(config.hidden_size, 1, bias=False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        # Right padding is assumed (the tokenizer pads on the right): the real tokens of a row are its first `length`.
        lengths = attention_mask.sum(dim=1)
        states = self.dropout(self.embeddings(input_ids))
        for i, (fw, bw) in enumerate(zip(self.fw, self.bw)):
            forward_states, _ = fw(states)
            backward_states, _ = bw(_reverse_within_length(states, lengths))
            states = torch.cat([forward_states, _reverse_within_length(backward_states, lengths)], dim=-1)
            if i < len(self.fw) - 1:
                states = self.dropout(states)
        scores = self.score(torch.tanh(self.attention(states))).squeeze(-1)
        # The dtype's minimum rather than -inf: a row with no real token gets finite (uniform) weights, not NaN.
        scores = scores.masked_fill(attention_mask == 0, torch.finfo(scores.dtype).min)
        weights = torch.softmax(scores, dim=-1)
        return torch.bmm(weights.unsqueeze(1), states).squeeze(1)


class BiLstmForSequenceClassification(PreTrainedModel):
    """BiLSTM encoder (`self.bilstm`, the base model) plus a dropout + Linear head outside it."""

    config_class = BiLstmConfig
    base_model_prefix = "bilstm"
    main_input_name = "input_ids"

    def __init__(self, config: BiLstmConfig):
        super().__init__(config)
        self.bilstm = BiLstmEncoder(config)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(2 * config.hidden_size, config.num_labels)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        # PyTorch's own initialisation suits LSTMs; only the padding row must start (and stay) at zero.
        if isinstance(module, nn.Linear | nn.LSTM | nn.Embedding):
            module.reset_parameters()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, **kwargs) -> SequenceClassifierOutput:
        """Logits per text; with labels, the cross-entropy loss too. Other keyword inputs are ignored."""
        if attention_mask is None:
            attention_mask = (input_ids != self.config.pad_token_id).long()
        logits = self.classifier(self.dropout(self.bilstm(input_ids, attention_mask)))
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


def _register() -> None:
    """Make AutoConfig / AutoModelForSequenceClassification know the model type, once per process."""
    try:
        AutoConfig.register(MODEL_TYPE, BiLstmConfig)
    except ValueError:  # already registered (a module reload): the registry refuses a second entry
        pass
    try:
        AutoModelForSequenceClassification.register(BiLstmConfig, BiLstmForSequenceClassification)
    except ValueError:
        pass


_register()


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
    from textslim.distill import LossWeights

    lp = ctx.section
    student, tokenizer, recipe = build_lstm_student(ctx.train_texts, ctx.labels, lp.embeddings, lp.embedding_dim,
                                                    lp.hidden_size, lp.dropout, lp.min_count, lp.max_vocab,
                                                    ctx.params.distill.seed)
    weights = LossWeights(hard=lp.hard_weight, soft=lp.soft_weight, sequence=lp.sequence_weight,
                          temperature=ctx.params.distill.temperature)
    return StudentBuild(student, tokenizer, lp, weights, recipe)


register(Recipe("lstm", LstmParams, _build, export=export_torch_onnx,
                describe=lambda s: f"lstm (BiLSTM on {s.embeddings})"))
