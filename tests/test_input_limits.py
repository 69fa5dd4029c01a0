"""Every door validates its input: gates, search strings and magic arguments answer bad or
oversized input with one clear error, never a traceback (the HTTP doors have their own files:
test_bundle_limits.py, test_server_limits.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from test_server import seed

from jupyter_mlops.errors import GateError
from jupyter_mlops.gates import MAX_GATE_CHARS, MAX_GATE_DEPTH, evaluate_gate

CLI = [sys.executable, "-m", "jupyter_mlops.cli"]
HOSTILE_GATES = ["not " * 10_000 + "acc>0.5", "-" * 10_000 + "1<acc", "not " * 200 + "acc>0.5",
                 "-" * 900 + "1<acc", "acc>0.5 and " * 200 + "acc>0.5"]


@pytest.mark.parametrize("gate", HOSTILE_GATES)
def test_hostile_gates_are_a_gate_error(gate: str) -> None:
    with pytest.raises(GateError, match=f"at most {MAX_GATE_CHARS}|more than {MAX_GATE_DEPTH}"):
        evaluate_gate(gate, {"acc": 0.9})


def test_reasonable_nesting_still_evaluates() -> None:
    gate = "not (" * 10 + "acc > 0.5 and -(-acc) < 1" + ")" * 10
    assert evaluate_gate(gate, {"acc": 0.9}).passed


def test_hostile_gate_on_the_command_line_is_one_line(tmp_path: Path) -> None:
    seed(tmp_path)
    for gate in HOSTILE_GATES[:2]:
        done = subprocess.run([*CLI, "--store", str(tmp_path), "promote", "01TRAIN", "--name",
                               "m", f"--gate={gate}"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert f"a gate has at most {MAX_GATE_CHARS}" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
