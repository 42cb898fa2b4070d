"""The package has no import cycles (function-local imports included), checked by pylint."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def test_the_package_has_no_import_cycles():
    pytest.importorskip("pylint")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.run([sys.executable, "-m", "pylint", "--disable=all",
                           "--enable=cyclic-import", "--score=n", str(SRC / "barfi")],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
