"""How npukit speaks to a user: API errors name the API's parameters, never a CLI flag, and the
CLI says its flags instead; numbers appear as written (8, not np.int32(8)); usage errors carry
no validation-library phrasing; every command's help lists the model formats."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import npukit
from npukit.cli import app, cli_wording
from npukit.errors import BadInputError
from npukit.validation import positive_int

runner = CliRunner()
ROOT = Path(npukit.__file__).resolve().parent
SOURCES = [ROOT, (ROOT / "converters") if (ROOT / "converters").is_dir() else ROOT.parent / "converters"]
FLAG = re.compile(r"--[a-z]")


def raised_strings(path: Path):
    """(line, text) of every string literal inside a ``raise`` statement of a module."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            for part in ast.walk(node.exc):
                if isinstance(part, ast.Constant) and isinstance(part.value, str):
                    yield part.lineno, part.value


def test_library_errors_name_no_cli_flag():
    found = []
    for folder in SOURCES:
        for path in sorted(folder.rglob("*.py")):
            if path.name == "cli.py":  # the CLI may name its own flags
                continue
            found += [f"{path.name}:{line}: {text!r}" for line, text in raised_strings(path) if FLAG.search(text)]
    assert not found, "API errors naming CLI flags:\n" + "\n".join(found)


def test_the_ast_scan_sees_raised_messages(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f(x):\n    raise ValueError(f'bad {x}; pass --force to go on')\n")
    texts = [t for _, t in raised_strings(module)]
    assert texts == ["bad ", "; pass --force to go on"] and any(FLAG.search(t) for t in texts)


@pytest.mark.parametrize("api, cli", [
    ("out.tflite exists; pass force=True to overwrite it", "out.tflite exists; pass --force to overwrite it"),
    ("pass allow_cpu_fallback=True to write it anyway", "pass --allow-cpu-fallback to write it anyway"),
    ("use quantize='none' (float32) or api_level=29 or higher", "use --quantize none (float32) or --api-level 29 or higher"),
    ("convert it with batch=1", "convert it with --batch 1"),
    ("e.g. input_shape=(1, 3, 224, 224)", "e.g. --input-shape 1,3,224,224"),
    ("pass data=... with samples of that shape", "pass --data with samples of that shape"),
    ("pass allow_source_mismatch=True to compare them anyway", "pass --allow-source-mismatch to compare them anyway"),
    ("the file myforce=True.npz is untouched", "the file myforce=True.npz is untouched"),  # not a parameter
])
def test_the_cli_says_its_flags(api, cli):
    assert cli_wording(api) == cli


def test_an_existing_output_names_force_as_each_side_calls_it(tmp_path):
    from npukit.files import check_writable

    target = tmp_path / "out.tflite"
    target.write_bytes(b"keep")
    with pytest.raises(BadInputError, match=r"pass force=True to overwrite it$"):
        check_writable(target)
    result = runner.invoke(app, ["simulate", str(npukit.models.DIGITS_CNN), "--save", str(target)])
    assert result.exit_code == 2 and result.stderr.strip().endswith("pass --force to overwrite it")
    assert target.read_bytes() == b"keep"


def test_int8_below_api_29_says_how_in_both_languages(tmp_path):
    from npukit.models import DIGITS_CNN

    with pytest.raises(BadInputError, match=r"quantize='none' \(float32\) or api_level=29"):
        npukit.convert(DIGITS_CNN, tmp_path / "a.tflite", api_level=27)
    result = runner.invoke(app, ["convert", str(DIGITS_CNN), "-o", str(tmp_path / "a.tflite"), "--api-level", "27"])
    assert result.exit_code == 2 and "--quantize none (float32) or --api-level 29" in result.stderr
    assert not (tmp_path / "a.tflite").exists()


def test_numbers_are_shown_as_written():
    with pytest.raises(BadInputError) as caught:
        positive_int("timesteps", np.int32(-8))
    assert str(caught.value).endswith("Received: -8")
    from npukit.events import Binning

    with pytest.raises(BadInputError) as caught:
        Binning(sensor=(np.int64(0), np.int64(5)))
    assert "Received: (0, 5)" in str(caught.value) and "np." not in str(caught.value)
    from npukit.profile.latency import measure_latency

    with pytest.raises(BadInputError) as caught:  # a numpy count is a count; zero is not
        measure_latency("none.tflite", runs=np.int64(0))
    assert str(caught.value) == "runs must be an integer in 1..1,000,000. Received: 0"


def test_usage_errors_speak_plainly():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    code = "from npukit.cli import main; main()"
    cases = [
        (["convert", "m.keras", "--quantize", "int4"], "'int4' is not one of 'int8', 'fp16', 'none'"),
        (["simulate", "m.keras", "-T", "abc"], "expected an integer"),
        (["simulate", "m.keras", "--dt", "abc"], "expected a number"),
        (["simulate", "m.keras", "--bin-us", "0"], "must be greater than or equal to 1"),
    ]
    for args, message in cases:
        proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)
        line = proc.stderr.strip()
        assert proc.returncode == 2 and "\n" not in line and message in line, (args, line)
        assert "Value error" not in line and "Input should" not in line, line


def test_every_command_taking_a_source_model_lists_the_formats():
    for command in ("convert", "simulate", "parity", "report", "inspect"):
        text = " ".join(runner.invoke(app, [command, "-h"], terminal_width=200).stdout.split())
        for suffix in (".keras", ".h5", ".onnx", ".nir", ".npkit"):
            assert suffix in text, (command, suffix)
    assert all(s in npukit.__doc__ for s in (".keras", ".h5", ".onnx", ".nir", ".npkit"))
