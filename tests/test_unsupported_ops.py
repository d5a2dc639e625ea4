"""Unsupported ops: every frontend scans the whole source model first and refuses it with one
error naming every op it does not convert and where each occurs; `npukit inspect` lists them
for a model that does not convert (`unsupported` in its JSON)."""

from __future__ import annotations

import json

import nir
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

import npukit
from npukit.cli import app
from npukit.converters.frontend import UnsupportedOpsError
from npukit.errors import UnsupportedError

runner = CliRunner()


def onnx_with_three_unsupported(path):
    """Conv -> Tanh -> Sin -> Tanh -> Flatten: Tanh twice and Sin once are not converted."""
    N = helper.make_node
    nodes = [
        N("Conv", ["x", "W"], ["c"], name="conv"), N("Tanh", ["c"], ["t1"], name="tanh_a"),
        N("Sin", ["t1"], ["s"], name="sine"), N("Tanh", ["s"], ["t2"], name="tanh_b"), N("Flatten", ["t2"], ["y"], name="flat"),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float32), "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def nir_with_two_unsupported(path):
    """Input -> MaxPool1d -> LIF -> Dropout -> Output: two node types npukit has no converter for
    (types other exporters write), written as a valid graph whose type fields are then renamed."""
    import h5py

    n = 3
    nodes = {
        "input": nir.Input(input_type={"input": np.array([n])}),
        "wait": nir.Affine(weight=np.eye(n, dtype=np.float32), bias=np.zeros(n, np.float32)),
        "lif": nir.LIF(tau=np.full(n, 0.01), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n)),
        "conv": nir.Affine(weight=np.eye(n, dtype=np.float32), bias=np.zeros(n, np.float32)),
        "output": nir.Output(output_type={"output": np.array([n])}),
    }
    edges = [("input", "wait"), ("wait", "lif"), ("lif", "conv"), ("conv", "output")]
    nir.write(str(path), nir.NIRGraph(nodes=nodes, edges=edges, type_check=False))
    with h5py.File(path, "r+") as f:
        for name, kind in (("wait", "MaxPool1d"), ("conv", "Dropout")):
            del f[f"node/nodes/{name}/type"]
            f[f"node/nodes/{name}/type"] = kind.encode()
    return path


def keras_with_unsupported(path):
    import keras

    L = keras.layers
    model = keras.Sequential([
        keras.Input((8, 8, 1)), L.Conv2D(4, 3, name="conv"), L.GroupNormalization(2, name="norm_a"),
        L.Conv2DTranspose(4, 3, name="up"), L.GroupNormalization(2, name="norm_b"), L.Flatten(), L.Dense(3, name="out"),
    ])
    model.save(path)
    return path


@pytest.mark.parametrize("make, kinds, wheres", [
    (onnx_with_three_unsupported, ["Tanh", "Tanh", "Sin"], ["node 'tanh_a'", "node 'tanh_b'", "node 'sine'"]),
    (nir_with_two_unsupported, ["MaxPool1d", "Dropout"], ["node 'wait'", "node 'conv'"]),
    (keras_with_unsupported, ["GroupNormalization", "Conv2DTranspose", "GroupNormalization"],
     ["layer 'norm_a'", "layer 'up'", "layer 'norm_b'"]),
], ids=["onnx", "nir", "keras"])
def test_every_unsupported_op_in_one_error_and_in_inspect(tmp_path, make, kinds, wheres):
    suffix = {"onnx_with_three_unsupported": ".onnx", "nir_with_two_unsupported": ".nir"}.get(make.__name__, ".keras")
    path = make(tmp_path / f"m{suffix}")
    with pytest.raises(UnsupportedOpsError) as caught:
        npukit.load(path)
    error = caught.value
    assert isinstance(error, UnsupportedError) and "\n" not in str(error)
    assert sorted(o["op"] for o in error.ops) == sorted(kinds)
    assert sorted(o["where"] for o in error.ops) == sorted(w for w in wheres)
    for kind in set(kinds):  # each kind once in the message, its places beside it
        assert str(error).count(f"{kind} (") == 1, str(error)
    for where in wheres:
        assert where.split("'")[1] in str(error)
    assert f"{len(set(kinds))} " in str(error) and "supported: " in str(error)

    # the CLI: one line, exit 2, nothing written
    out = tmp_path / "out.tflite"
    result = runner.invoke(app, ["convert", str(path), "-o", str(out), "--quantize", "none", "--api-level", "27"])
    assert result.exit_code == 2 and not out.exists()
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and all(k in lines[0] for k in kinds), result.stderr

    # inspect lists them (JSON and text) for the model that does not convert
    result = runner.invoke(app, ["inspect", str(path), "--json"])
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["convertible"] is False
    assert [(u["op"], u["where"]) for u in info["unsupported"]] == [(o["op"], o["where"]) for o in error.ops]
    text = runner.invoke(app, ["inspect", str(path)]).stdout
    assert "does not convert" in text and all(w in text for w in wheres)


def test_a_convertible_model_inspects_as_convertible():
    from npukit.models import DIGITS_LIF

    info = npukit.inspect(DIGITS_LIF)
    assert info["convertible"] is True and info["unsupported"] == [] and info["layers"]
