"""dvc.yaml declares what each stage depends on; a key missing here would leave stale results after a change."""

import dataclasses
from pathlib import Path

import yaml

from textslim.params import DistillParams

DVC_YAML = yaml.safe_load((Path(__file__).resolve().parents[1] / "dvc.yaml").read_text())


def test_distill_stage_depends_on_every_distill_key_but_the_student_list():
    params = DVC_YAML["stages"]["distill_student"]["do"]["params"]
    declared = {p.split(".", 1)[1] for p in params if p.startswith("distill.")}
    keys = {f.name for f in dataclasses.fields(DistillParams)}
    # `students` is left out on purpose: adding a student must not retrain the others.
    assert declared == keys - {"students"}
    assert {"seed", "lora", "setfit", "lstm"} <= set(params)
