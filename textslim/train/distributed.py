"""Data-parallel training: a training stage run by N processes under torchrun, through the HF Trainer's DDP.

TEXTSLIM_NPROC=N (default 1) makes a training stage (one that passes relaunch_under_torchrun to
textslim.cli.run_stage: finetune_teacher and distill_student) re-run its own command line under
`python -m torch.distributed.run --standalone --nproc_per_node N`. Every process then runs the same stage script and
the same training loop (textslim.train.loop.train_classifier): the Trainer reads torchrun's RANK, LOCAL_RANK and
WORLD_SIZE and wraps the model in DistributedDataParallel, NCCL between GPUs (one process per GPU), gloo between
CPU processes. A stage started by torchrun directly trains the same way.

What stays as in one process:
- the effective batch: each process takes batch_size / N examples a step and DDP averages the N gradients, so a step
  sees batch_size examples as before (batch_size must be a multiple of N);
- the outputs: only rank 0 saves checkpoints, reloads the best epoch, logs the DVCLive curves and writes the stage's
  outputs; every other rank exits (code 0) when training ends, inside train_classifier, and writes nothing;
- one process: with WORLD_SIZE unset or 1, nothing here changes a training argument.
A process under torchrun trains once: the process group is taken down when its training ends.
"""

import logging
import os
import shlex
import sys
from collections.abc import Mapping, Sequence

from textslim.errors import TextslimError
from textslim.params import DistillParams, TeacherParams, TrainParams

log = logging.getLogger(__name__)

ENV = "TEXTSLIM_NPROC"


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def requested_processes(environ: Mapping[str, str] | None = None) -> int:
    """TEXTSLIM_NPROC as a number of processes: 1 when unset or empty; anything but an integer >= 1 is an error."""
    raw = _env(environ).get(ENV, "").strip()
    if not raw:
        return 1
    if not raw.isdigit() or int(raw) < 1:
        raise TextslimError(f"{ENV} = {raw!r} is not allowed; expected an integer >= 1 (training processes, "
                            "one per GPU on a GPU machine)")
    return int(raw)


def under_torchrun(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process was started by torchrun (or another launcher setting the torch.distributed variables)."""
    environ = _env(environ)
    return "WORLD_SIZE" in environ or "LOCAL_RANK" in environ


def world_size(environ: Mapping[str, str] | None = None) -> int:
    return int(_env(environ).get("WORLD_SIZE", "1"))


def rank(environ: Mapping[str, str] | None = None) -> int:
    return int(_env(environ).get("RANK", "0"))


def is_main_process(environ: Mapping[str, str] | None = None) -> bool:
    """Rank 0, the one process that logs and writes: always true in one process."""
    return rank(environ) == 0


def one_process_only(what: str, environ: Mapping[str, str] | None = None) -> None:
    """For work with nothing for DDP to share: TEXTSLIM_NPROC > 1 is noted and left unused, and a run already under
    torchrun with more than one process is an error (the other ranks would have nothing to do while rank 0 waited
    for them in the trainer's process-group setup)."""
    if under_torchrun(environ) and world_size(environ) > 1:
        raise TextslimError(f"{what} runs in one process: run this stage without torchrun")
    if requested_processes(environ) > 1:
        log.info("%s = %d left unused: %s runs in one process", ENV, requested_processes(environ), what)


def torchrun_command(nproc: int, argv: Sequence[str], python: str = sys.executable) -> list[str]:
    """The same command line, run by N processes on this machine (a free rendezvous port: stages may run side by
    side)."""
    return [python, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc), *argv]


def relaunch_under_torchrun(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> None:
    """With TEXTSLIM_NPROC = N > 1, not yet under torchrun: become torchrun running this same command with N processes
    (os.execv: the stage's process id, exit status and signals are torchrun's).

    Returns, doing nothing, otherwise; a bad TEXTSLIM_NPROC, or more processes than visible GPUs, is a TextslimError.
    """
    argv = list(sys.argv if argv is None else argv)
    nproc = requested_processes(environ)
    if nproc == 1 or under_torchrun(environ):
        return
    import torch

    if torch.cuda.is_available() and nproc > torch.cuda.device_count():
        raise TextslimError(f"{ENV} = {nproc}, but {torch.cuda.device_count()} GPUs are visible: one process per GPU")
    command = torchrun_command(nproc, argv)
    log.info("%s = %d: running the stage under torchrun: %s", ENV, nproc, shlex.join(command))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(command[0], command)


def _batch_size_key(params) -> str:
    if isinstance(params, TeacherParams):
        return "teacher.batch_size"
    if isinstance(params, DistillParams):  # the LoRA student trains with the distill section's batch size too
        return "distill.batch_size"
    return "batch_size (in the student's own section)"


def per_device_batch_size(params: TrainParams, world: int | None = None) -> int:
    """params.batch_size / WORLD_SIZE: the N processes' step together still sees batch_size examples."""
    world = world_size() if world is None else world
    if params.batch_size % world:
        raise TextslimError(f"params: {_batch_size_key(params)} = {params.batch_size} does not split over {world} "
                            f"training processes ({ENV} / torchrun --nproc_per_node); expected a multiple of {world}")
    return params.batch_size // world


def training_arguments(world: int | None = None) -> dict:
    """The TrainingArguments DDP needs beyond the single-process ones: none in one process."""
    world = world_size() if world is None else world
    if world == 1:
        return {}
    import torch

    # group_by_length's sampler draws its order from a generator; with the seedable sampler off, Accelerate gives it
    # one generator and copies rank 0's state to every rank each epoch, so the N shards of an epoch partition the
    # same order. (Left on, each rank's order would follow its own global RNG, which dropout advances differently
    # on different batches: from the second epoch the ranks would shard different orders.)
    arguments: dict = {"accelerator_config": {"use_seedable_sampler": False}}
    if not torch.cuda.is_available():
        # Without use_cpu, Accelerate on a machine without GPUs sees LOCAL_RANK, finds no accelerator, and trains
        # each rank on its own: no DDP at all.
        arguments.update(use_cpu=True, ddp_backend="gloo")
    return arguments


def end_training() -> None:
    """After train_classifier's training, under torchrun: take the process group down; a rank other than 0 exits
    here (code 0), leaving the outputs to rank 0. Nothing in one process."""
    if world_size() == 1:
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    if not is_main_process():
        log.info("rank %d of %d: training done; rank 0 writes the outputs", rank(), world_size())
        sys.exit(0)
