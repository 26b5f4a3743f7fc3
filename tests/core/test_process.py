"""Long-running commands and SIGTERM (core/process.py): a stop during set-up ends the command at once,
a stop while it runs lets the loop finish its round and exit cleanly."""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_SETTING_UP = """
import time
from core.process import long_running
should_stop = long_running("t")
print("ready", flush=True)
time.sleep(60)  # a long set-up: models loading, photos embedding
print("set up", flush=True)
"""

_RUNNING = """
import time
from core.process import long_running
should_stop = long_running("t")
rounds = 0
while not should_stop():
    if rounds == 0:
        print("ready", flush=True)
    rounds += 1
    time.sleep(0.05)
print("finished cleanly", flush=True)
"""


@pytest.mark.parametrize("script, code, last", [(_SETTING_UP, 128 + signal.SIGTERM, "ready"),
                                               (_RUNNING, 0, "finished cleanly")])
def test_sigterm_ends_a_set_up_at_once_and_a_running_loop_after_its_round(script: str, code: int, last: str) -> None:
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)  # the set-up would have slept 60 s
    assert proc.returncode == code
    assert [line for line in ["ready", *out.splitlines()] if line][-1] == last  # "set up" never printed
