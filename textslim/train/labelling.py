"""The teacher labelling many unlabelled texts once: length-sorted batches, a progress bar, and chunks saved as they
finish, so that a run stopped part-way resumes (the label_unlabelled stage)."""

import hashlib
import os
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from textslim.inference import batched_logits


def labelling_key(teacher_dir: str | Path, texts: list[str], max_length: int) -> str:
    """What a resumed labelling run must share with the one it resumes: the teacher's files, the texts, max_length."""
    digest = hashlib.sha256(f"{max_length}\n".encode())
    for path in sorted(p for p in Path(teacher_dir).rglob("*") if p.is_file()):
        digest.update(path.name.encode() + path.read_bytes())
    for text in texts:
        digest.update(text.encode() + b"\0")
    return digest.hexdigest()[:24]


def resumable_logits(classifier, texts: list[str], resume_dir: Path, batch_size: int = 128,
                     chunk: int = 4096) -> np.ndarray:
    """The classifier's logits for every text, in order, from length-sorted batches (little padding), with a progress
    bar. Each chunk of `chunk` texts is saved under resume_dir when done, so a run stopped part-way (a killed job, a
    closed laptop) resumes at its last chunk: resume_dir must be keyed to the classifier and the texts
    (labelling_key)."""
    order = np.argsort([len(t) for t in texts], kind="stable")
    resume_dir.mkdir(parents=True, exist_ok=True)
    parts = []
    with tqdm(total=len(texts), desc="teacher labelling", unit="text") as bar:
        for k, start in enumerate(range(0, len(texts), chunk)):
            path = resume_dir / f"chunk-{k:05d}.npy"
            if path.is_file():
                scores = np.load(path)
            else:
                scores = batched_logits(classifier, [texts[i] for i in order[start:start + chunk]], batch_size)
                with open(path.with_suffix(".tmp"), "wb") as fh:  # a chunk is whole or absent
                    np.save(fh, scores.astype(np.float32))
                os.replace(path.with_suffix(".tmp"), path)
            parts.append(scores)
            bar.update(len(scores))
    logits = np.zeros((len(texts), parts[0].shape[1] if parts else 0), dtype=np.float32)
    if parts:
        logits[order] = np.concatenate(parts)
    return logits
