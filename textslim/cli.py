"""Shared entry-point plumbing for the stage scripts: logging, quiet libraries, one-line errors."""

import logging
import os
import sys
from collections.abc import Callable

from textslim.errors import TextslimError

log = logging.getLogger(__name__)


def run_stage(main: Callable[[], None], relaunch: Callable[[], None] | None = None) -> None:
    """Run a stage's main(); a TextslimError becomes one line on stderr and exit code 2.

    relaunch: called first, inside the same error handling. The training stages pass
    textslim.train.distributed.relaunch_under_torchrun, which re-runs the stage under torchrun when TEXTSLIM_NPROC > 1;
    every other stage runs in one process. (Passed in, not imported here: this module is plumbing below everything.)
    """
    # Root at WARNING: ONNX Runtime's quantizer logs a line per tensor at INFO through the root logger.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    # Progress from one process: rank 0 under torchrun (textslim.train.distributed).
    for name in ("__main__", "textslim"):
        logging.getLogger(name).setLevel(logging.INFO if os.environ.get("RANK", "0") == "0" else logging.WARNING)
    # Offline by design: a hub lookup must fail fast instead of hanging on a closed network.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        if relaunch is not None:
            relaunch()  # returns unless the process becomes torchrun
        main()
    except TextslimError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except SystemExit as done:
        if done.code in (0, None) and os.environ.get("RANK", "0") != "0":
            _leave_without_finalization()
        raise


def _leave_without_finalization() -> None:
    """How a rank other than 0 ends once its training is done (textslim.train.distributed.end_training): exit 0 at
    once, streams flushed, skipping interpreter finalization. There, freeing DDP's gloo process group joins its worker
    threads while holding the GIL, and a worker still freeing a finished collective's tensors waits for the GIL: a
    deadlock (seen here: rank 1 hung in ~ProcessGroupGloo under ~AsyncAllgatherWork; pytorch/pytorch#179291 is the
    same finalization-time GIL wait). Rank 0 writes every output, so nothing is lost."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
