"""Stage report: render reports/summary.md from the compare stage's summary and the stages' metrics."""

import argparse
import logging
from pathlib import Path

from textslim.atomic import atomic_file, read_json
from textslim.cli import run_stage
from textslim.corpora import report_lines
from textslim.data_report import data_report_lines
from textslim.drift import drift_lines
from textslim.measure.decisions import decision_lines
from textslim.measure.frontier import frontier_lines, frontier_points
from textslim.measure.int8_modes import int8_mode_lines
from textslim.measure.report import (
    baseline_line,
    compression_lines,
    hardware_lines,
    read_evaluated,
    recipe_notes,
    render_report,
)
from textslim.measure.selection import deploy_lines
from textslim.params import load_params
from textslim.students.registry import check_recipes

log = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--summary", required=True)
    parser.add_argument("--metrics-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--deploy", required=True, help="the select stage's metrics/deploy.json")
    parser.add_argument("--frontier-out", required=True, help="the latency frontier as CSV, for `dvc plots`")
    args = parser.parse_args()

    params = load_params(args.params)
    check_recipes(params)
    metrics_dir = Path(args.metrics_dir)
    summary = read_json(args.summary)
    rows = summary["variants"]
    best = next((r for r in rows if r["name"] == summary["best_student"]), None)
    evaluated = read_evaluated(params, metrics_dir)
    chains = {name: evaluated[name] for name in params.compress.chains(params.distill.students)}
    # A recipe's note reads its distilled figures and, for INT8, its last variant's (by default the heaviest).
    last = params.compress.variants[-1]
    students = {s: {**evaluated[s], "forms": {**evaluated[f"{s}.{last}"]["forms"], **evaluated[s]["forms"]}}
                for s in params.distill.students}
    baseline = read_json(metrics_dir / "baseline.json")
    int8_records = {"teacher-int8": read_json(metrics_dir / "teacher-deployed.json").get("quantize"),
                    **{f"{name}-int8": metrics.get("quantize") for name, metrics in chains.items()}}
    extra = [baseline_line(baseline), "", *decision_lines(rows, best, summary["test_texts"]),
             *drift_lines(rows, read_json(metrics_dir / "drift.json"), params.drift.flag_points),
             *compression_lines(chains), *hardware_lines(summary),
             *int8_mode_lines({name: record for name, record in int8_records.items() if record}), "## Data", "",
             *data_report_lines(read_json(metrics_dir / "data.json")),
             *report_lines(read_json(metrics_dir / "unlabelled.json"))]
    with atomic_file(args.frontier_out) as tmp:
        frontier_points(rows).to_csv(tmp, index=False)
    with atomic_file(args.out) as tmp:
        tmp.write_text(render_report(rows, best, baseline["test"]["accuracy"], summary["threads"], params.compare,
                                     params, recipe_notes(students, rows[0]["accuracy"]), extra,
                                     lead=frontier_lines(rows), headline=deploy_lines(read_json(args.deploy))))
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    run_stage(main)
