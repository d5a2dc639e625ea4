"""Metadata read from a .tflite is checked against its schema before any command uses it
(npukit/schemas/tflite_metadata.schema.json): values of the wrong type are refused in one line,
exit 2, by bundle, parity, profile, simulate --as-deployed and inspect alike."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from npukit.cli import app
from npukit.models import DIGITS_CNN, DIGITS_EVENTS
from npukit.tflite_file import read_tflite, with_metadata

runner = CliRunner()

RATE_CASES = {
    "integer labels": {"labels": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]},
    "mode as a dict": {"mode": {"rate": 1}},
    "a float batch": {"batch": 1.5},
    "tensor_map to strings": {"tensor_map": {"conv1/relu": "10"}},
    "input as a list": {"input": [1, 2]},
}
TEMPORAL_CASES = {
    "state_order as {}": {"state_order": {}},
    "state_order as a string": {"state_order": "v"},
    "state_order as a dict": {"state_order": {"layer": "lif1"}},
    "state_order as a list of ints": {"state_order": [1, 2, 3]},
    "a state without its input": {"state_order": [{"layer": "lif1", "kind": "v", "shape": [8], "output": 1}]},
    "spike_tensors to strings": {"spike_tensors": {"lif1": "x"}},
    "readout unknown": {"readout": "max"},
}


def _refused(result, where: str) -> None:
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2, (result.exit_code, result.output[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error: the npukit metadata entry of this .tflite: "), result.output
    assert where in lines[0], lines[0]


def _commands(model, tmp_path, temporal: bool) -> list[list[str]]:
    source, data = (str(DIGITS_EVENTS), "digits-events") if temporal else (str(DIGITS_CNN), "digits")
    commands = [["inspect", str(model)], ["profile", str(model), "--runs", "2"],
                ["parity", source, str(model), "--data", data, "--samples", "4"],
                ["bundle", str(model), "--data", data, "-o", str(tmp_path)]]
    if temporal:
        commands.append(["simulate", source, "--data", data, "--samples", "2", "--as-deployed", str(model)])
    return commands


CASES = [(case, False) for case in sorted(RATE_CASES)] + [(case, True) for case in sorted(TEMPORAL_CASES)]


@pytest.mark.parametrize("case, temporal", CASES)
def test_metadata_of_the_wrong_types_is_refused(case, temporal, tmp_path, request):
    """A rate model (the shipped CNN) or a temporal one (the shipped event SNN) with one key
    replaced, through every command that reads its metadata."""
    model = request.getfixturevalue("shipped_temporal")("events") if temporal else request.getfixturevalue("shipped_tflite")
    change = (TEMPORAL_CASES if temporal else RATE_CASES)[case]
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(with_metadata(model.read_bytes(), {**read_tflite(model).npukit_metadata(), **change}))
    for command in _commands(bad, tmp_path, temporal):
        _refused(runner.invoke(app, command), next(iter(change)))
    assert not (tmp_path / "bad").exists()


def test_every_documented_metadata_key_is_in_the_schema():
    import re
    from pathlib import Path

    from npukit.schemas import load_schema

    docs = Path(__file__).resolve().parent.parent / "docs" / "metadata.md"
    documented = set(re.findall(r"^\| `(\w+)` \|", docs.read_text(), flags=re.M))
    assert documented and documented <= set(load_schema("tflite_metadata")["properties"]), documented - set(load_schema("tflite_metadata")["properties"])
