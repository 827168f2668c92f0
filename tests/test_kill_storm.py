"""The kill storm script: many SIGKILLs, inside and between commits, and still a byte-identical run."""

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent.parent / "scripts" / "kill_storm.py"


@pytest.mark.slow
def test_kill_storm_ends_identical(fashion_dir):
    result = subprocess.run(
        # Each kill comes after a new commit, so 900 steps leave room for four.
        [sys.executable, str(SCRIPT), "--kills", "4", "--max-steps", "900"],
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "after 4 kills the run is byte-identical" in result.stdout, result.stdout
