"""CLI progress: bars on stderr when it is a terminal and the work lasts over ~2 s; nothing with
--json or when stderr is not a terminal.

The console script runs in a child process whose stderr is a pseudo-terminal (what a user's
shell gives it) and whose stdout is a pipe, so both streams are seen byte for byte.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import struct
import subprocess
import sys
import termios
import threading

import pytest

from npukit.models import DIGITS_CNN

# simulate -T 256 on the 360 digits test samples: several seconds on any machine, past the delay
SLOW_SIMULATION = ["simulate", str(DIGITS_CNN), "-T", "256"]
TIMEOUT_S = 600


def _env() -> dict[str, str]:
    """The user's environment: no variable that forces or forbids a terminal, TensorFlow's
    log level left at its default (npukit must keep TF's lines off the terminal itself)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "TF_CPP_MIN_LOG_LEVEL", "COLUMNS")}
    env["TERM"] = "xterm-256color"
    return env


def run_cli(args: list[str], stderr_tty: bool) -> tuple[int, bytes, bytes]:
    """Run ``npukit ARGS``: (exit code, stdout, stderr), stderr a 40 x 120 pty or a pipe."""
    command = [sys.executable, "-c", "from npukit.cli import main; main()", *args]
    if not stderr_tty:
        proc = subprocess.run(command, capture_output=True, env=_env(), timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)
        return proc.returncode, proc.stdout, proc.stderr
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    received: list[bytes] = []

    def drain() -> None:  # the pty's buffer is small: read it while the child writes
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed its side
                return
            if not chunk:
                return
            received.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL, env=_env())
        os.close(slave)
        stdout, _ = proc.communicate(timeout=TIMEOUT_S)
        reader.join(timeout=10)
    finally:
        os.close(master)
    return proc.returncode, stdout, b"".join(received)


@pytest.mark.slow
def test_simulate_shows_progress_in_a_terminal():
    code, stdout, stderr = run_cli(SLOW_SIMULATION, stderr_tty=True)
    assert code == 0, stderr.decode(errors="replace")
    text = stderr.decode(errors="replace")
    assert "simulating" in text, text[-2000:]  # the stage name
    assert re.search(r"\d+/360", text), text[-2000:]  # samples done of the 360 (rich's M/N column)
    assert b"\x1b[" not in stdout  # the bars never reach stdout
    assert b"top-1 accuracy" in stdout or b"accuracy" in stdout


@pytest.mark.slow
def test_json_in_a_terminal_prints_only_the_json():
    code, stdout, stderr = run_cli([*SLOW_SIMULATION, "--json"], stderr_tty=True)
    assert code == 0, stderr.decode(errors="replace")
    assert stderr == b"", stderr[-2000:]
    figures = json.loads(stdout)  # stdout is exactly one JSON document
    assert stdout.decode() == json.dumps(figures, indent=2) + "\n"
    assert figures["timesteps"] == 256 and figures["samples"] == 360


@pytest.mark.slow
def test_no_progress_when_stderr_is_not_a_terminal():
    code, stdout, stderr = run_cli(SLOW_SIMULATION, stderr_tty=False)
    assert code == 0, stderr.decode(errors="replace")
    assert stderr == b"", stderr[-2000:]
    assert b"\x1b[" not in stdout
