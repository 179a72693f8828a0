"""The Makefile's environment: offline by default, but a user's own HF_HUB_OFFLINE wins (a hub-id teacher needs
`HF_HUB_OFFLINE=0 make repro`). Tested on make's logic, not on the network."""

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _seen_by_recipes(user_value: str | None) -> str:
    """HF_HUB_OFFLINE as a recipe's shell sees it, with the user's environment holding user_value (None: unset)."""
    env = {key: value for key, value in os.environ.items() if key != "HF_HUB_OFFLINE"}
    if user_value is not None:
        env["HF_HUB_OFFLINE"] = user_value
    shown = subprocess.run(["make", "-s", "--no-print-directory", "--eval",
                            'show-offline: ; @echo "[$$HF_HUB_OFFLINE]"', "show-offline"],
                           cwd=REPO, env=env, capture_output=True, text=True, check=True)
    return shown.stdout.strip()


@pytest.mark.parametrize("user_value, seen", [(None, "[1]"), ("0", "[0]"), ("1", "[1]")])
def test_the_makefile_is_offline_unless_the_user_says_otherwise(user_value, seen):
    assert _seen_by_recipes(user_value) == seen
