"""An augmented transfer set, TinyBERT-style: training texts with some words swapped for their GloVe neighbours.

The teacher labels every augmented text (its logits are the soft targets, its argmax the hard label), so a swap that
turns "brilliant" into "dull" is not a wrong label but one more probe of the teacher's decision boundary. TinyBERT also
swaps single-piece words for a masked language model's guesses; the built-in encoders ship no MLM head, so only the
GloVe half is here.
"""

import logging

import numpy as np

from textslim.params import AugmentParams

log = logging.getLogger(__name__)


def neighbour_table(words: set[str], vectors, neighbours: int, candidate_words: int) -> dict[str, list[str]]:
    """Each word GloVe knows -> its nearest words by cosine similarity among GloVe's `candidate_words` most frequent.

    One matrix product per chunk of words instead of gensim's most_similar per word: the same neighbours, 100x sooner.
    """
    candidates = vectors.index_to_key[:candidate_words]
    normed = vectors.get_normed_vectors()
    matrix = normed[:candidate_words]
    known = sorted(w for w in words if w in vectors.key_to_index)
    table = {}
    for start in range(0, len(known), 1024):
        chunk = known[start:start + 1024]
        similarity = normed[[vectors.key_to_index[w] for w in chunk]] @ matrix.T
        top = np.argpartition(-similarity, neighbours, axis=1)[:, :neighbours + 1]  # the word itself may be among them
        for word, row, ids in zip(chunk, similarity, top):
            ranked = sorted(ids, key=lambda i: -row[i])  # noqa: B023
            table[word] = [candidates[i] for i in ranked if candidates[i] != word][:neighbours]
    return table


def augment_texts(texts: list[str], cfg: AugmentParams, seed: int, vectors) -> tuple[list[str], list[int]]:
    """cfg.size new texts and the training row each came from: the training texts in a seeded order (round robin
    when size exceeds them), each word swapped with probability cfg.replace_probability for one of its neighbours.

    Words are split on whitespace and looked up lowercased (GloVe is lowercase); a word left alone keeps its case.
    """
    if cfg.size == 0 or not texts:
        return [], []
    rng = np.random.default_rng(seed)
    rows = np.concatenate([rng.permutation(len(texts)) for _ in range(-(-cfg.size // len(texts)))])[:cfg.size]
    words = {word.lower() for row in set(rows.tolist()) for word in texts[row].split()}
    table = neighbour_table(words, vectors, cfg.neighbours, cfg.candidate_words)
    log.info("augmenting: %d texts from %d training texts; %d of their %d distinct words have GloVe neighbours",
             cfg.size, len(set(rows.tolist())), len(table), len(words))
    out = []
    for row in rows:
        swapped = []
        for word in texts[row].split():
            options = table.get(word.lower())
            swap = options and rng.random() < cfg.replace_probability
            swapped.append(options[rng.integers(len(options))] if swap else word)
        out.append(" ".join(swapped))
    return out, rows.tolist()
