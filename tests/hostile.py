"""Helpers of the hostile-input tests: the CLI in a child process under a 4 GB address-space
limit, and the check that a refusal is one `error:` line with exit code 2."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ADDRESS_SPACE_BYTES = 4 << 30
# -P: the child's own working folder is not put on sys.path (the tests put hostile modules there)
_CLI = (
    "import resource, sys; resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit})); "
    "from npukit.cli import main; sys.argv = ['npukit'] + sys.argv[1:]; main()"
)


def run_cli(*args, cwd: Path | None = None, env: dict | None = None, timeout: float = 300,
           limit: int = ADDRESS_SPACE_BYTES) -> subprocess.CompletedProcess:
    """Run ``npukit ARGS`` in a child process whose address space is limited to ``limit`` bytes."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.run(
        [sys.executable, "-P", "-c", _CLI.format(limit=limit), *[str(a) for a in args]],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout,
    )


def assert_refused(result: subprocess.CompletedProcess, pattern: str, *absent: bytes | str) -> str:
    """Exit code 2, stderr exactly one line ``error: ...`` matching ``pattern``, none of
    ``absent`` in stdout or stderr. Returns the line."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    assert re.search(pattern, lines[0]), lines[0]
    for text in absent:
        text = text.decode(errors="replace") if isinstance(text, bytes) else text
        assert text not in result.stdout and text not in result.stderr
    return lines[0]
