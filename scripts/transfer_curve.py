"""The learning curve of the transfer set: how much a student gains from more text for the teacher to teach.

Each (row, student, seed) distils one student on one transfer set and puts it through compression chains (--chains:
compress.settings variants, `heavy` by default, the default chain), with the pipeline's own stage scripts run on a
params file that differs from the workspace's only in that row's, student's and seed's keys (and FIXED's: dynamic
INT8 with 8-bit embedding tables, and trimming to the transfer texts alone, throughout). It reads what the
workspace's `make repro` left: the prepared splits, the drift texts, the teacher
and its logits. Rows:

- `base`: today's transfer set, the labelled training texts;
- `dialogue-50k`, `dialogue-all`: + 50k or all of builtin:movie-dialogue, unlabelled, labelled by the teacher;
- `news`: + builtin:news-sentences;
- `copies-4`: + 4 augmented copies of every training text (augment.copies, TinyBERT's N);
- `dialogue-10k-1epoch`: + 10k dialogue lines, distilled for 1 epoch instead of 2: the base row's number of
  distillation steps (within 1%), so more varied text for the same distillation time (the curve's other rows train
  longer as they grow; the chains' recovery epoch still goes over all 20k texts).
- `source-rest`: + the labelled source's own texts without their labels (data.unlabelled: [data.source]), of which
  label_unlabelled keeps what no split holds: the texts data.max_train_samples left out of training (on the tweets
  benchmark, 16k tweets), as a user holds many texts and labels for few. A workspace without a train limit has none:
  the row stops with one line.
- `base-1epoch`: the labelled texts alone at dialogue-10k-1epoch's schedule, which separates what that row's text does
  from what its one epoch does.

Students: `spread` (3 teacher layers) and `minilm-l3` (the `pretrained` recipe on builtin:minilm-l3). Each finished
run is saved to --results at once, so a long curve can be run a row at a time (across sessions) and a stopped run
loses only the row it was in; the report and the plot data are rebuilt from every saved run.

Every run names the teacher that taught it (a digest of its weights): `make repro` on another CPU retrains the teacher,
not bit-identically, and a gap means something only against the teacher it was measured against. So --results also
keeps each teacher's own scores, recorded whenever a workspace with that teacher runs the script, and the report gives
each teacher's runs a section of their own.

    python scripts/transfer_curve.py --rows base dialogue-50k --students spread minilm-l3
    python scripts/transfer_curve.py --report-only
"""

import argparse
import hashlib
import json
import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

from textslim.assets import cache_dir
from textslim.atomic import atomic_dir, atomic_file, write_json
from textslim.cli import run_stage
from textslim.cpu import describe_cpu
from textslim.errors import TextslimError
from textslim.forms import DISTILLED, ONNX_INT8
from textslim.params import load_params

log = logging.getLogger(__name__)

SOURCE_TEXTS = "<source texts>"  # a placeholder in ROWS, resolved per workspace by with_source_texts()
ROWS = {
    "base": {},
    "dialogue-50k": {"data.unlabelled": ["builtin:movie-dialogue"], "data.unlabelled_max": 50000},
    "dialogue-all": {"data.unlabelled": ["builtin:movie-dialogue"]},
    "news": {"data.unlabelled": ["builtin:news-sentences"]},
    "copies-4": {"augment.copies": 4},
    "dialogue-10k-1epoch": {"data.unlabelled": ["builtin:movie-dialogue"], "data.unlabelled_max": 10000,
                            "distill.epochs": 1},
    "source-rest": {"data.unlabelled": [SOURCE_TEXTS]},
    # the labelled texts alone at dialogue-10k-1epoch's schedule: separates what its text does from what its epoch does
    "base-1epoch": {"distill.epochs": 1},
}
STUDENTS = {
    "spread": {"distill.students": ["spread"]},
    "minilm-l3": {"distill.students": ["pretrained"], "pretrained.model": "builtin:minilm-l3"},
    # The BiLSTM trains lstm.epochs over whatever it is given (distill.epochs does not reach it): its base row is the
    # labelled texts alone, its dialogue-10k-1epoch row what the default run gives it.
    "lstm": {"distill.students": ["lstm"]},
}
# Held fixed across every run, whatever params.yaml says: the curve measures what the transfer set buys, so the INT8
# scheme is the one its first rows ran with (dynamic scales; quantize.mode auto, the pipeline's default since, picks
# static or dynamic per model on timings that vary run to run), and every row starts from the base row's transfer
# set and schedule (params.yaml's defaults changed to the dialogue-10k-1epoch row after the curve measured it). The
# vocabulary kept by trimming and the embedding tables' bits are also the first rows' (the pipeline's defaults became
# prune.extra_vocabulary and 4-bit tables later); one run predates this line and is named in the report (ODD_RUNS).
FIXED = {"quantize.mode": "dynamic", "prune.extra_vocabulary": None, "quantize.embedding_bits": 8}
ODD_RUNS = {("dialogue-all", "spread", 42): "ran with params.yaml's prune.extra_vocabulary (the trimmed chains keep "
            "every built-in corpus's vocabulary entries) and 4-bit embedding tables, before FIXED held both at the "
            "other rows' settings: its MB are not comparable (4-bit tables are about 4.3 MB smaller on this "
            "student), and on the default run 4-bit tables moved test accuracy by -0.39 to +0.39 points"}
BASE = {"data.unlabelled": [], "data.unlabelled_max": None, "augment.size": 0, "augment.copies": 0,
        "distill.epochs": 2}
REPO = Path(__file__).resolve().parent.parent


def override(params: dict, changes: dict) -> dict:
    """params with each dotted key set (load_params then checks the file, so a misspelt key is an error)."""
    for dotted, value in changes.items():
        *path, last = dotted.split(".")
        section = params
        for key in path:
            section = section.setdefault(key, {})
        section[last] = value
    return params


def stage(script: str, *args: str, cwd: Path) -> None:
    """Run one of the pipeline's stage scripts in its own process, as `dvc repro` does, from the workspace."""
    done = subprocess.run([sys.executable, str(REPO / "stages" / f"{script}.py"), *map(str, args)], cwd=cwd)
    if done.returncode != 0:
        raise TextslimError(f"stages/{script}.py failed (exit {done.returncode}); this run is not saved")


def timed_stage(script: str, *args, cwd: Path) -> float:
    """stage(), and its wall time in seconds."""
    started = time.monotonic()
    stage(script, *args, cwd=cwd)
    return time.monotonic() - started


def teacher_digest(workspace: Path) -> str:
    """Which teacher labelled a cached transfer set: the labels are only valid for that one."""
    return hashlib.sha256((workspace / "models/teacher/model.safetensors").read_bytes()).hexdigest()[:12]


def labelling_inputs(params: dict) -> dict:
    """What the label_unlabelled and augment stages read from params (as dvc.yaml lists their params): a labelled
    transfer set is reused only where all of it is the same."""
    augmenting = params.get("augment", {}).get("size") or params.get("augment", {}).get("copies")
    return {"seed": params.get("seed"), "data": params.get("data"), "teacher.max_length":
            params.get("teacher", {}).get("max_length"), "augment": params.get("augment"),
            "distill.seed": params.get("distill", {}).get("seed") if augmenting else None}


def labelled_transfer(row: str, params: dict, params_file: Path, workspace: Path, work: Path
                      ) -> tuple[Path, Path, dict]:
    """The row's unlabelled and augmented texts with the teacher's logits, labelled once per teacher and settings and
    reused by every student (and seed, unless augmenting): (unlabelled folder, augmented folder, {texts, seconds})."""
    key = hashlib.sha256(json.dumps([teacher_digest(workspace), labelling_inputs(params)], sort_keys=True,
                                    default=str).encode()).hexdigest()[:12]
    folder = work / "labelled" / f"{row}-{key}"
    if not (folder / "done.json").is_file():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        unlabelled = timed_stage("label_unlabelled", "--params", params_file, "--data", "data/prepared",
                                 "--drift", "data/drift", "--teacher", "models/teacher",
                                 "--out", folder / "unlabelled", "--report-out", folder / "unlabelled.json",
                                 cwd=workspace)
        augmented = timed_stage("augment", "--params", params_file, "--data", "data/prepared",
                                "--teacher", "models/teacher", "--out", folder / "augmented", cwd=workspace)
        texts = (len(pd.read_parquet(folder / "unlabelled" / "texts.parquet"))
                 + len(pd.read_parquet(folder / "augmented" / "texts.parquet")))
        write_json(folder / "done.json", {"added_texts": texts, "labelling_seconds": round(unlabelled + augmented, 1)})
    return folder / "unlabelled", folder / "augmented", json.loads((folder / "done.json").read_text())


def scores(form: dict) -> dict:
    return {"validation": form["validation"]["accuracy"], "test": form["accuracy"],
            "drift": form.get("drift", {}).get("accuracy"), "size_mb": round(form["size_bytes"] / 1e6, 2)}


def run_params(row: str, student: str, seed: int, chains: list[str], workspace: Path) -> dict:
    """The workspace's params.yaml with the base row's transfer set, then the row's, student's, FIXED's and the
    seed's and chains' keys."""
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    return override(params, {**BASE, **ROWS[row], **STUDENTS[student], **FIXED, "distill.seed": seed,
                             "compress.variants": chains})


def with_source_texts(params: dict, workspace: Path) -> dict:
    """params with SOURCE_TEXTS in data.unlabelled replaced by the workspace's data.source: a labelled source named
    there gives its texts without their labels (textslim.corpora), and label_unlabelled keeps what no split holds."""
    source = load_params(workspace / "params.yaml").data.source
    params["data"]["unlabelled"] = [source if u == SOURCE_TEXTS else u for u in params["data"]["unlabelled"]]
    return params


def run_one(row: str, student: str, seed: int, chains: list[str], workspace: Path, work: Path) -> dict:
    params = with_source_texts(run_params(row, student, seed, chains, workspace), workspace)
    recipe = params["distill"]["students"][0]
    scratch = work / "runs" / f"{row}.{student}.seed{seed}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    params_file = scratch / "params.yaml"
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    load_params(params_file)  # checked before any work: a misspelt override or chain is one line here
    unlabelled, augmented, transfer = labelled_transfer(row, params, params_file, workspace, work)
    common = ["--params", params_file, "--data", "data/prepared"]
    transfer_args = ["--unlabelled", unlabelled, "--augmented", augmented]
    student_dir = scratch / "student"
    seconds = {"training": timed_stage("distill_student", *common, "--strategy", recipe, "--teacher",
                                       "models/teacher", "--teacher-logits", "data/teacher_logits", *transfer_args,
                                       "--out", student_dir, "--live-dir", scratch / "live", cwd=workspace)}
    forms = {}
    for i, chain in enumerate(chains):  # as dvc.yaml's prune, export_onnx, quantize and evaluate stages chain them
        out = scratch / chain
        seconds[chain] = (
            timed_stage("prune", *common, "--variant", chain, "--model", student_dir, "--teacher-logits",
                        "data/teacher_logits", *transfer_args, "--out", out / "pruned", cwd=workspace)
            + timed_stage("export_onnx", *common, "--model", out / "pruned", "--out", out / "onnx", cwd=workspace)
            + timed_stage("quantize", *common, "--model", out / "onnx", "--out", out / "int8", cwd=workspace))
        distilled = ["--distilled", student_dir] if i == 0 else []  # scored once, with the first chain
        stage("evaluate", *common, "--student", f"{student}.{chain}", *distilled, "--source", out / "pruned",
              "--onnx", out / "onnx", "--quantized", out / "int8", "--drift", "data/drift",
              "--out", out / "evaluation.json", "--predictions-out", out / "predictions.csv", cwd=workspace)
        evaluated = json.loads((out / "evaluation.json").read_text())["forms"]
        if distilled:
            forms["distilled"] = scores(evaluated[DISTILLED.name])
        forms[f"{chain}-int8"] = scores(evaluated[ONNX_INT8.name])
    result = {"row": row, "student": student, "seed": seed, "teacher": teacher_digest(workspace),
              "added_texts": transfer["added_texts"],
              "seconds": {"labelling": transfer["labelling_seconds"], **{k: round(v, 1) for k, v in seconds.items()}},
              "forms": forms, "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                                                       capture_output=True, text=True).stdout.strip(),
              "cpu": cpu_line()}
    shutil.rmtree(scratch)  # the models are not kept: the curve's figures are
    return result


def cpu_line() -> str:
    cpu = describe_cpu()
    return f"{cpu['model']} (INT8 path: {cpu['int8_path']})"


def teacher_scores(workspace: Path) -> dict:
    """The workspace teacher's accuracies (its PyTorch source, scored by evaluate_teacher): its runs' reference."""
    deployed = json.loads((workspace / "metrics/teacher-deployed.json").read_text())
    trained = json.loads((workspace / "metrics/teacher.json").read_text())
    return {"validation": deployed["source_validation"]["accuracy"], "test": trained["test"]["accuracy"],
            "drift": deployed.get("source_drift", {}).get("accuracy"),
            "size_mb": round(trained["size_bytes"] / 1e6, 2), "cpu": cpu_line()}


def row_order(runs: list[dict]) -> list[dict]:
    """The runs in the curve's order: student and row as STUDENTS and ROWS list them, then seed."""
    def place(names: list[str], name: str) -> tuple[int, str]:
        return (names.index(name) if name in names else len(names), name)

    return sorted(runs, key=lambda r: (place(list(STUDENTS), r["student"]), place(list(ROWS), r["row"]), r["seed"]))


def pct(values: list[float | None], sign: str = "") -> str:
    """Mean (± sd over seeds) in %; sign="+" for a difference."""
    kept = pd.Series([100 * v for v in values if v is not None], dtype=float)
    if kept.empty:
        return "–"
    return f"{kept.mean():{sign}.2f}" + (f" ± {kept.std():.2f}" if len(kept) > 1 else "")


def markdown(runs: list[dict], teacher: dict | None, train_texts: int) -> str:
    """Two tables: what each row cost, and what each form of its students scored (and the gap to the teacher, where
    its scores are known)."""
    groups: dict[tuple, list[dict]] = {}
    for run in row_order(runs):
        groups.setdefault((run["student"], run["row"]), []).append(run)
    cost = ["| student | row | seeds | texts taught | labelling min | training min | chains min |",
            "|:--|:--|--:|--:|--:|--:|:--|"]
    accuracy = ["| student | row | form | seeds | validation | test | Δ test vs teacher | drift | MB |",
                "|:--|:--|:--|--:|--:|--:|--:|--:|--:|"]
    for (student, row), group in groups.items():
        keys = dict.fromkeys(key for r in group for key in r["seconds"])
        mean = {key: pd.Series([r["seconds"][key] for r in group if key in r["seconds"]]).mean() / 60
                for key in keys}
        chains = ", ".join(f"{key} {minutes:.1f}" for key, minutes in mean.items()
                           if key not in ("labelling", "training"))
        cost.append(f"| {student} | {row} | {len(group)} | {train_texts + group[0]['added_texts']:,} | "
                    f"{mean['labelling']:.1f} | {mean['training']:.1f} | {chains} |")
        for form in dict.fromkeys(name for r in group for name in r["forms"]):
            have = [r["forms"][form] for r in group if form in r["forms"]]
            column = {split: pct([s[split] for s in have]) for split in ("validation", "test", "drift")}
            gap = pct([s["test"] - teacher["test"] for s in have], "+") if teacher else "–"
            size = pd.Series([s["size_mb"] for s in have]).mean()
            accuracy.append(f"| {student} | {row} | {form} | {len(have)} | {column['validation']} | "
                            f"{column['test']} | {gap} | {column['drift']} | {size:.1f} |")
    if teacher:
        accuracy.append(f"| teacher | – | PyTorch | – | {pct([teacher['validation']])} | {pct([teacher['test']])} | "
                        f"+0.00 | {pct([teacher['drift']])} | {teacher['size_mb']:.1f} |")
    return "\n".join(cost) + "\n\n" + "\n".join(accuracy)


def chain_description(workspace: Path, chain: str) -> str:
    params = load_params(workspace / "params.yaml")
    if chain not in params.compress.settings:
        return "(no longer in params.yaml)"
    prune = params.compress.prune_settings(params.prune, chain)
    if prune.method == "none":
        return f"no pruning, vocabulary {prune.vocabulary}"
    if prune.method == "unstructured":
        return f"unstructured pruning to sparsity {prune.amount}, vocabulary {prune.vocabulary}"
    return (f"{prune.method} pruning, heads −{prune.head_fraction:.0%}, FFN −{prune.ffn_fraction:.0%}, "
            f"{prune.recovery_epochs} recovery epoch(s), vocabulary {prune.vocabulary}")


def by_teacher(runs: list[dict]) -> dict[str, list[dict]]:
    """The runs grouped by the teacher that taught them, the teacher with the most runs first (then first saved)."""
    groups: dict[str, list[dict]] = {}
    for run in runs:
        groups.setdefault(run.get("teacher") or "unknown", []).append(run)
    return dict(sorted(groups.items(), key=lambda item: -len(item[1])))


def teacher_section(digest: str, runs: list[dict], teacher: dict | None, train_texts: int) -> str:
    """One teacher's runs: which CPU they ran on, the two tables, and the notes on odd runs among them."""
    cpus = "; ".join(sorted({run["cpu"] for run in runs}))
    about = (f"Its scores were recorded on: {teacher['cpu']}." if teacher else
             "Its own scores are not recorded here (run the script once from a workspace with this teacher), so the "
             "gaps to it are not shown.")
    return (f"## Teacher `{digest}`: {len(runs)} runs\n\nRuns on: {cpus}. {about}\n\n"
            + markdown(runs, teacher, train_texts) + "\n"
            + "".join(f"\nThe {row} row's `{student}` run (seed {seed}) {note}.\n"
                      for (row, student, seed), note in ODD_RUNS.items()
                      if any((r["row"], r["student"], r["seed"]) == (row, student, seed) for r in runs)))


def write_outputs(runs: list[dict], teachers: dict[str, dict], workspace: Path, results: Path, report: Path,
                  plot: Path) -> None:
    data = json.loads((workspace / "metrics/data.json").read_text())
    train_texts = data["split_sizes"]["train"]
    sections = by_teacher(runs)
    plotted = next(iter(sections))
    text = (
        "# The transfer-set learning curve\n\n"
        f"Written by `python scripts/transfer_curve.py` from `{results.name}`, one entry per run; the data: "
        f"{data['source']}, {train_texts:,} labelled training texts. Each row distils the student on the labelled "
        "training texts plus that row's texts, every "
        "one labelled by the teacher's logits (the hard-label loss only where a gold label exists), then puts it "
        "through compression chains, each ending in dynamic INT8 with 8-bit embedding tables (held fixed for every "
        "run, as is trimming to the transfer texts alone): "
        + "; ".join(f"`{chain}`: {chain_description(workspace, chain)}"
                    for chain in dict.fromkeys(c for r in runs for c in r["seconds"]
                                               if c not in ("labelling", "training")))
        + ". Trimming, importance and recovery use the same transfer set as distillation. Accuracies in %, mean ± "
        "sd over student seeds where there are several; `drift` is the drift check's off-domain texts.\n\n"
        "Each section holds the runs one teacher taught, named by a digest of its weights, beside that teacher's own "
        "scores in PyTorch: `make repro` on another CPU retrains the teacher, not bit-identically, so runs are "
        "compared within a section. Minutes are wall time on a shared 2-core machine, each run alone; labelling is "
        f"done once per row and teacher, and reused by every student and seed. The plot data (`{plot.name}/`, a "
        f"DVC plot in dvc.yaml) is the first section's runs (teacher `{plotted}`).\n\n"
        + "\n".join(teacher_section(digest, group, teachers.get(digest), train_texts)
                    for digest, group in sections.items()))
    report.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(report) as tmp:
        tmp.write_text(text)
    # The DVC plot's data (dvc.yaml's top-level `transfer-curve` plot): one file per student and form, so that each is
    # a line of its own; test accuracy, the mean over seeds, against the number of texts taught, for one teacher.
    with atomic_dir(plot) as tmp:
        for (student, form), group in points(sections[plotted], train_texts).groupby(["student", "form"]):
            group.drop(columns=["student", "form"]).to_csv(tmp / f"{student}-{form}.csv", index=False)


def on_the_curve(row: str) -> bool:
    """Whether a row trains at the workspace's distill.epochs: the plotted curve is accuracy against the texts taught
    at one training schedule, so a row that also changes the schedule is compared in the report's tables only."""
    return "distill.epochs" not in ROWS.get(row, {})


def points(runs: list[dict], train_texts: int) -> pd.DataFrame:
    rows = pd.DataFrame([{"student": r["student"], "form": form, "texts_taught": train_texts + r["added_texts"],
                          "test_accuracy": 100 * scores["test"]} for r in runs if on_the_curve(r["row"])
                         for form, scores in r["forms"].items()])
    curve = rows.groupby(["student", "form", "texts_taught"], as_index=False).agg(
        test_accuracy=("test_accuracy", "mean"), seeds=("test_accuracy", "size"))
    return curve.round({"test_accuracy": 2})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", nargs="*", default=[], choices=list(ROWS))
    parser.add_argument("--students", nargs="+", default=list(STUDENTS), choices=list(STUDENTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[42], help="distill.seed values")
    parser.add_argument("--chains", nargs="+", default=["heavy"],
                        help="compression variants (compress.settings) each student goes through; heavy: the default")
    parser.add_argument("--rerun", action="store_true", help="run again what --results already holds")
    parser.add_argument("--report-only", action="store_true", help="rebuild the report from --results")
    parser.add_argument("--workspace", type=Path, default=REPO,
                        help="where `make repro` left params.yaml, data/, models/teacher and metrics/")
    parser.add_argument("--results", type=Path, default=REPO / "metrics/transfer-curve.json")
    parser.add_argument("--report", type=Path, default=REPO / "reports/transfer-curve.md")
    parser.add_argument("--plot", type=Path, default=REPO / "plots/transfer-curve",
                        help="a folder: the DVC plot's data, a CSV per student and form")
    parser.add_argument("--work", type=Path, default=cache_dir() / "transfer-curve",
                        help="scratch folders and the labelled transfer sets (reused while the teacher is the same)")
    args = parser.parse_args()
    args.work = args.work.resolve()  # the stages run from the workspace
    needed = ["models/teacher/model.safetensors", "metrics/teacher.json", "metrics/teacher-deployed.json",
              "metrics/data.json"]
    if not args.report_only:
        needed += ["data/prepared", "data/drift", "data/teacher_logits"]
    for path in needed:
        if not (args.workspace / path).exists():
            raise TextslimError(f"{path} is missing: run `make repro` first (the curve uses its teacher and split)")

    saved = json.loads(args.results.read_text()) if args.results.is_file() else {}
    runs, teachers = saved.get("runs", []), saved.get("teachers", {})
    teacher = teacher_digest(args.workspace)
    teachers[teacher] = teacher_scores(args.workspace)  # every run's gap is to the teacher that taught it
    if not args.report_only:
        for row in args.rows:
            for student in args.students:
                for seed in args.seeds:
                    key = (teacher, row, student, seed)
                    done = [r for r in runs if (r.get("teacher"), r["row"], r["student"], r["seed"]) == key]
                    if done and set(args.chains) <= set(done[0]["seconds"]) and not args.rerun:
                        log.info("%s / %s / seed %d: already in %s", row, student, seed, args.results)
                        continue
                    # run again with the chains it had too: every run keeps every chain it was measured through
                    chains = list(dict.fromkeys([*args.chains, *(k for r in done for k in r["seconds"]
                                                                 if k not in ("labelling", "training"))]))
                    log.info("%s / %s / seed %d: running (chains %s)", row, student, seed, ", ".join(chains))
                    result = run_one(row, student, seed, chains, args.workspace, args.work)
                    runs = [r for r in runs if r not in done] + [result]
                    # saved at once: a later failure keeps this run
                    write_json(args.results, {"runs": runs, "teachers": teachers})
                    log.info("%s / %s / seed %d: %s", row, student, seed, ", ".join(
                        f"{form} test {100 * scores['test']:.2f}" for form, scores in result["forms"].items()))
    if not runs:
        raise TextslimError(f"no runs in {args.results}: name --rows to run")
    write_json(args.results, {"runs": runs, "teachers": teachers})
    write_outputs(runs, teachers, args.workspace, args.results, args.report, args.plot)
    log.info("wrote %s and %s (%d runs, %d teachers)", args.report, args.plot, len(runs), len(by_teacher(runs)))

if __name__ == "__main__":
    run_stage(main)
