"""Vocabulary trimming against coverage: for each choice of texts whose WordPiece entries are kept, how many entries
that is, how many validation, test and drift texts then touch a dropped entry (issue 21 part 5 aims for <= 2%), and
what trimming alone (no pruning, no recovery, PyTorch fp32) does to the distilled students' accuracy there.

    python scripts/vocabulary_coverage.py --out reports/vocabulary-coverage.md

Needs the default run's outputs (make repro): the prepared splits, the drift texts, the transfer set's unlabelled
texts and the distilled students. Each kept set is the labelled training texts plus the texts named in its row; the
built-in corpora are the ones `data.unlabelled` and `prune.extra_vocabulary` accept.
"""

import argparse
import copy
import time
from pathlib import Path

import pandas as pd
from transformers import AutoTokenizer

from textslim.compress.vocab import kept_token_ids, trim_to_ids, uncovered_fraction
from textslim.corpora import BUILTIN_CORPORA
from textslim.cpu import describe_cpu
from textslim.data import read_prepared
from textslim.forms import read_student_record
from textslim.inference import TorchClassifier, load_torch_model
from textslim.measure.evaluation import evaluate_classifier
from textslim.params import load_params

FULL = "(nothing trimmed)"


def kept_sets(tokenizer, train: list[str], unlabelled: list[str], max_length: int) -> dict[str, tuple[set, float]]:
    """{row name: (kept ids, seconds to tokenize its corpora)}: each corpus is tokenized once, the rows are unions."""
    def ids(texts: list[str]) -> tuple[set, float]:
        started = time.monotonic()
        return set(kept_token_ids(tokenizer, texts, max_length)), time.monotonic() - started

    labelled, seconds = ids(train)
    transfer, more = ids(unlabelled)
    corpora = {name: ids(read()) for name, read in BUILTIN_CORPORA.items()}
    rows = {"labelled training texts": (labelled, seconds),
            f"+ the transfer set's {len(unlabelled):,} unlabelled texts (the default)": (labelled | transfer,
                                                                                         seconds + more)}
    for name, (kept, took) in corpora.items():
        rows[f"+ builtin:{name}"] = (labelled | transfer | kept, seconds + more + took)
    every = set().union(labelled, transfer, *(kept for kept, _ in corpora.values()))
    rows["+ every built-in corpus"] = (every, seconds + more + sum(took for _, took in corpora.values()))
    rows[FULL] = (set(range(len(tokenizer))), 0.0)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", nargs="+", type=Path,
                        default=[Path("models/students/spread"), Path("models/students/lora")],
                        help="distill_student output directories (transformer students sharing the teacher's "
                             "tokenizer)")
    parser.add_argument("--data", default="data/prepared")
    parser.add_argument("--unlabelled", default="data/unlabelled", type=Path)
    parser.add_argument("--drift", default="data/drift", type=Path)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()

    params = load_params(args.params)
    splits, labels = read_prepared(args.data)
    scored = {"validation": splits["validation"], "test": splits["test"],
              "drift": pd.read_parquet(args.drift / "texts.parquet")}
    unlabelled = pd.read_parquet(args.unlabelled / "texts.parquet")["text"].tolist()
    models = {path.name: load_torch_model(path) for path in args.students}
    tokenizer = AutoTokenizer.from_pretrained(args.students[0])
    max_length = read_student_record(args.students[0])["max_length"]
    hidden = {name: model.get_input_embeddings().embedding_dim for name, model in models.items()}

    rows = []
    for name, (kept, seconds) in kept_sets(tokenizer, splits["train"]["text"].tolist(), unlabelled,
                                           max_length).items():
        row = {"kept texts": name, "entries": len(kept), "tokenize s": round(seconds, 1)}
        for split, frame in scored.items():
            row[f"{split} texts touching a dropped entry"] = (
                0.0 if name == FULL else uncovered_fraction(tokenizer, kept, frame["text"].tolist()))
        for student, model in models.items():
            trimmed = copy.deepcopy(model)
            tokens = tokenizer
            if name != FULL:
                trimmed, tokens, _ = trim_to_ids(trimmed, tokenizer, kept)
            classifier = TorchClassifier(args.students[0], max_length, model=trimmed, tokenizer=tokens)
            for split, frame in scored.items():
                row[f"{student} {split}"] = evaluate_classifier(classifier, frame, labels,
                                                                params.evaluate.batch_size)["accuracy"]
        rows.append(row)
        print(f"{name}: {len(kept)} entries", flush=True)
    table = pd.DataFrame(rows)
    args.out.write_text(render(table, hidden, len(tokenizer), scored, unlabelled))


def render(table: pd.DataFrame, hidden: dict[str, int], vocabulary: int, scored: dict, unlabelled: list) -> str:
    shown = table.copy()
    for column in shown.columns:
        if "touching" in column:
            shown[column] = shown[column].map("{:.1%}".format).str.rstrip("%")
        elif column.split()[0] in hidden:  # a student's accuracy
            shown[column] = shown[column].map("{:.2%}".format).str.rstrip("%")
    for student, width in hidden.items():
        # An INT8 embedding row is `width` bytes (one per weight; the per-channel scales are negligible).
        shown[f"{student} INT8 embeddings MB"] = (table["entries"] * width / 1e6).map(lambda x: f"{x:.1f}")
    cpu = describe_cpu()
    sizes = ", ".join(f"{name} {len(frame):,}" for name, frame in scored.items())
    return "\n".join([
        "# Vocabulary trimming against coverage",
        "",
        "Written by `python scripts/vocabulary_coverage.py` from the default run's outputs (`make repro`). Each row "
        "keeps the WordPiece entries its texts tokenize to (always with the special tokens and every single-character "
        "piece, so a dropped word is spelled out in smaller pieces rather than becoming [UNK]), the labelled training "
        "texts included in every row. `touching a dropped entry`: % of texts whose tokenization uses an entry the row "
        "drops (they are read differently after trimming). The student columns are accuracy in % of the distilled "
        "student trimmed that way and nothing else (no pruning, no recovery, PyTorch fp32); the last row is the "
        f"untrimmed student. Texts scored: {sizes} (drift: the drift check's off-domain texts). Vocabulary before "
        f"trimming: {vocabulary:,} entries; the transfer set: {len(unlabelled):,} unlabelled texts. "
        f"CPU: {cpu['model']}.",
        "",
        shown.to_markdown(index=False),
        "",
    ])


if __name__ == "__main__":
    main()
