"""Shared entry-point plumbing for the stage scripts: logging, quiet libraries, one-line errors."""

import logging
import os
import sys
from collections.abc import Callable

from textslim.errors import TextslimError

log = logging.getLogger(__name__)


def run_stage(main: Callable[[], None], distributed: bool | None = None) -> None:
    """Run a stage's main(); a TextslimError becomes one line on stderr and exit code 2.

    distributed: whether TEXTSLIM_NPROC > 1 re-runs the stage under torchrun (textslim.distributed); by default the
    training stages (textslim.distributed.TRAINING_STAGES, by script name) do and no other stage does.
    """
    # Root at WARNING: ONNX Runtime's quantizer logs a line per tensor at INFO through the root logger.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for name in ("__main__", "textslim"):  # progress from one process: rank 0 under torchrun (textslim.distributed)
        logging.getLogger(name).setLevel(logging.INFO if os.environ.get("RANK", "0") == "0" else logging.WARNING)
    # Offline by design: a hub lookup must fail fast instead of hanging on a closed network.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        # Imported here, not at the top: only the training stages depend on it (through textslim.distill).
        from textslim.distributed import relaunch_under_torchrun

        if distributed is not False:
            relaunch_under_torchrun(force=bool(distributed))  # returns unless it becomes torchrun
        main()
    except TextslimError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
