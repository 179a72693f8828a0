"""An augmented transfer set, TinyBERT-style: training texts with some words swapped for their GloVe neighbours.

The teacher labels every augmented text (its logits are the soft targets, its argmax the hard label), so a swap that
turns "brilliant" into "dull" is not a wrong label but one more probe of the teacher's decision boundary. TinyBERT also
swaps single-piece words for a masked language model's guesses; the built-in encoders ship no MLM head, so only the
GloVe half is here.
"""

import logging
import re

import numpy as np

from textslim.params import AugmentParams

log = logging.getLogger(__name__)

# A word is a run of letters, apostrophes inside it included: punctuation stays where it is ("great," swaps "great"
# and keeps the comma), and so does the spacing; "don't" stays one word (GloVe has no such entry, so it is kept).
WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")


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
    """New texts and the training row each came from: cfg.copies of every training text (TinyBERT's N), or cfg.size
    texts in all; the training texts in a seeded order (round robin), each word swapped with probability
    cfg.replace_probability for one of its neighbours.

    Words are runs of letters (WORD), looked up lowercased (GloVe is lowercase); a word left alone keeps its case,
    and punctuation and spacing stay as they were.
    """
    size = cfg.size or cfg.copies * len(texts)
    if size == 0 or not texts:
        return [], []
    rng = np.random.default_rng(seed)
    rows = np.concatenate([rng.permutation(len(texts)) for _ in range(-(-size // len(texts)))])[:size]
    words = {word.lower() for row in set(rows.tolist()) for word in WORD.findall(texts[row])}
    table = neighbour_table(words, vectors, cfg.neighbours, cfg.candidate_words)
    log.info("augmenting: %d texts from %d training texts; %d of their %d distinct words have GloVe neighbours",
             size, len(set(rows.tolist())), len(table), len(words))

    def swap(match: re.Match) -> str:
        options = table.get(match.group().lower())
        return options[rng.integers(len(options))] if options and rng.random() < cfg.replace_probability \
            else match.group()

    return [WORD.sub(swap, texts[row]) for row in rows], rows.tolist()
