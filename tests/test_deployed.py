"""The deployed arithmetic in numpy (``npukit.runtime.numpy_interpreter``, ``npukit.runtime.deployed``)
against LiteRT: every tensor of converted models bit for bit, and the spikes of every layer of the
shipped SNNs at every step, for every int8 state scheme and for float16 weights."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

import npukit
from npukit.cli import app
from npukit.errors import BadInputError, InternalError
from npukit.runtime.interpreter import make_interpreter
from npukit.runtime.numpy_interpreter import NumpyInterpreter
from npukit.tflite_file import IDENTIFIER, read_tflite, schema

runner = CliRunner()
#: the deployed-arithmetic simulation and LiteRT: fraction of (sample, neuron, step) spikes equal
SPIKES_EQUAL = 0.999


def every_tensor_as_output(model: bytes) -> bytes:
    """The model with every tensor an operator computes from the inputs added to its outputs, so
    that LiteRT with its default XNNPACK delegate hands them all back (a DEQUANTIZE of constant
    float16 weights is folded into its consumer by XNNPACK, its output never written)."""
    import flatbuffers

    s = schema()
    obj = s.ModelT.InitFromObj(s.Model.GetRootAs(model, 0))
    graph = obj.subgraphs[0]
    constant = {i for i, t in enumerate(graph.tensors) if t.buffer and obj.buffers[t.buffer].data is not None}
    computed = [int(t) for op in graph.operators if not set(op.inputs) <= constant | {-1} for t in op.outputs]
    graph.outputs = list(graph.outputs) + [t for t in computed if t not in list(graph.outputs)]
    builder = flatbuffers.Builder(len(model) + 1024)
    builder.Finish(obj.Pack(builder), file_identifier=IDENTIFIER)
    return bytes(builder.Output())


def mismatches(model: bytes, seed: int) -> list[str]:
    """Tensors whose values differ between LiteRT and the numpy interpreter on random inputs:
    integer tensors at all, float32 ones by more than 1e-5 of their largest magnitude (a float32
    convolution sums in another order than XNNPACK; element-wise float32 ops agree exactly)."""
    watched = every_tensor_as_output(model)
    info = read_tflite(watched)
    rng = np.random.default_rng(seed)
    litert, ours = make_interpreter(watched), NumpyInterpreter(watched)
    for detail in litert.get_input_details():
        if detail["dtype"] == np.int8:
            value = rng.integers(-128, 128, detail["shape"]).astype(np.int8)
        elif detail["index"] == info.inputs[0]:  # a frame: small event counts or pixel values
            value = (rng.random(detail["shape"]) < 0.3).astype(np.float32) * rng.integers(1, 4, detail["shape"])
        else:
            value = rng.normal(0.0, 1.0, detail["shape"]).astype(np.float32)
        litert.set_tensor(detail["index"], value.astype(detail["dtype"]))
        ours.set_tensor(detail["index"], value.astype(detail["dtype"]))
    litert.invoke()
    ours.invoke()
    found = []
    watched_outputs = set(info.outputs)
    for op in info.operators:
        for t in op.outputs:
            if t not in watched_outputs:
                continue
            a, b = litert.get_tensor(t), ours.get_tensor(t)
            if a.dtype.kind == "f":
                same = np.max(np.abs(a - b), initial=0) <= 1e-5 * max(1.0, float(np.max(np.abs(a), initial=0)))
            else:
                same = np.array_equal(a, b)
            if not same:
                found.append(f"{op.index} {op.op} -> {info.tensors[t].name}")
    return found


@pytest.mark.parametrize("settings", [{"state": "float32"}, {"state": "int8", "api_level": 29}, {"quantize": "fp16"}])
def test_every_tensor_of_a_temporal_model_equals_litert(shipped_temporal, settings):
    model = shipped_temporal("events", **settings).read_bytes()
    for seed in range(3):
        assert mismatches(model, seed) == []


def test_every_tensor_of_a_rate_model_equals_litert(shipped_tflite):
    assert mismatches(shipped_tflite.read_bytes(), 0) == []


def test_the_interpreter_runs_any_batch_and_refuses_unknown_operators(shipped_tflite):
    from npukit.runtime.deployed import simulate_deployed
    from npukit.data import digits

    x = digits("test").x[:7]
    one = np.concatenate([simulate_deployed(shipped_tflite, x[i : i + 1]).outputs for i in range(7)])
    np.testing.assert_array_equal(simulate_deployed(shipped_tflite, x, batch_size=4).outputs, one)
    info = read_tflite(shipped_tflite)
    info.operators[0].op = "CUMSUM"
    with pytest.raises(npukit.errors.UnsupportedError, match="CUMSUM, which the numpy interpreter does not model"):
        NumpyInterpreter(info)


@pytest.mark.parametrize("name", ["events", "lif", "rsnn"])
@pytest.mark.parametrize("settings", [{"state": "float32"}, {"state": "int8", "api_level": 29}])
def test_the_deployed_arithmetic_predicts_litert_spike_for_spike(shipped_temporal, name, settings):
    """Acceptance: >= 99.9% of (sample, neuron, step) spikes equal, every spiking layer, both schemes."""
    from conftest import SHIPPED_SNNS
    from npukit import models

    source, data, _ = SHIPPED_SNNS[name]
    report = npukit.parity(getattr(models, source), shipped_temporal(name, **settings), data, samples=200)
    deployed = report["deployed"]
    assert deployed["state"] == settings["state"]
    assert deployed["spike_agreement"]["deployed_vs_tflite"] >= SPIKES_EQUAL, deployed["layers"]
    for layer in deployed["layers"]:
        assert layer["spikes_equal"]["deployed_vs_tflite"] >= SPIKES_EQUAL, layer
    assert deployed["agreement"]["tflite_vs_deployed"] >= 0.99
    if name != "rsnn":  # a spiking readout: the parity's output counts come from the same LiteRT run
        assert report["spike_agreement"] is not None


def test_simulate_as_deployed_reports_what_litert_computes(shipped_temporal, tmp_path):
    from npukit.models import DIGITS_EVENTS
    from npukit.runtime import run_temporal
    from npukit.data import digits_events

    model = shipped_temporal("events", state="float32")
    report = npukit.simulate(DIGITS_EVENTS, "digits-events", samples=40, as_deployed=model)
    x = digits_events("test").x[:40].transpose(0, 1, 3, 4, 2)  # channels-last, as the .tflite takes it
    litert = run_temporal(model, x)
    np.testing.assert_array_equal(report.result.spike_counts["lif4"], litert.output_counts)
    assert report.result.timesteps == 30 and set(report.result.spike_counts) == {"lif1", "lif2", "lif3", "lif4"}
    result = runner.invoke(app, ["simulate", str(DIGITS_EVENTS), "--data", "digits-events", "--samples", "40",
                                 "--as-deployed", str(model), "--save", str(tmp_path / "s.npz")])
    assert result.exit_code == 0, result.output
    assert f"as deployed: the arithmetic of {model}" in result.output
    saved = np.load(tmp_path / "s.npz")
    np.testing.assert_array_equal(saved["spikes/lif4"], litert.output_counts)


def test_a_model_that_does_not_store_the_rounded_weights_is_caught(shipped_temporal):
    """The weight floor is only a floor if the file holds exactly the rounded weights: the check
    that guards it fails on a model whose kernel was changed by one level."""
    import flatbuffers

    from npukit.converters.tflite_temporal import check_weights, stored_weights
    from npukit.models import DIGITS_EVENTS

    model = shipped_temporal("events", state="float32")
    info = read_tflite(model)
    graph = stored_weights(npukit.load(DIGITS_EVENTS), info)
    check_weights(info, graph)  # the file's own weights pass
    s = schema()
    obj = s.ModelT.InitFromObj(s.Model.GetRootAs(info.raw, 0))
    conv = next(op for op in info.operators if op.op == "CONV_2D")
    kernel = obj.buffers[obj.subgraphs[0].tensors[conv.inputs[1]].buffer]
    values = np.frombuffer(np.asarray(kernel.data, np.uint8).tobytes(), np.int8).copy()
    values[np.argmin(np.abs(values))] += 1  # one weight one level up
    kernel.data = np.frombuffer(values.tobytes(), np.uint8)
    builder = flatbuffers.Builder(0)
    builder.Finish(obj.Pack(builder), file_identifier=IDENTIFIER)
    with pytest.raises(InternalError, match="does not store"):
        check_weights(read_tflite(bytes(builder.Output())), graph)


def test_fp16_weights_are_folded_by_the_nnapi_delegate(shipped_temporal):
    """A DEQUANTIZE of constant float16 weights is never validated by the delegate: it hands the
    consumer float32 constants (nnapi_delegate.cc), so a float16-weight model runs whole."""
    from npukit.nnapi.check import check_model

    model = shipped_temporal("events", quantize="fp16")
    info = read_tflite(model)
    kinds = {info.tensors[op.inputs[0]].dtype for op in info.operators if op.op == "DEQUANTIZE"}
    assert kinds == {"FLOAT16"}
    for level in (28, 30):
        assert check_model(model, level).fully_delegated
    meta = info.npukit_metadata()
    assert meta["quantization"] == "fp16" and meta["state"] == "float32"


def test_bad_scheme_choices_are_refused_in_one_line(tmp_path):
    from npukit.models import DIGITS_LIF

    with pytest.raises(BadInputError, match="needs mode 'temporal' and quantize 'int8'"):
        npukit.convert(DIGITS_LIF, tmp_path / "a.tflite", state="int8", timesteps=25)
    with pytest.raises(BadInputError, match="float32 inputs and outputs"):
        npukit.convert(DIGITS_LIF, tmp_path / "b.tflite", mode="temporal", state="float32", io="int8", timesteps=25)
    result = runner.invoke(app, ["convert", str(DIGITS_LIF), "-o", str(tmp_path / "c.tflite"), "--state", "int4"])
    assert result.exit_code == 2 and not (tmp_path / "c.tflite").exists()
    for path in ("a", "b"):
        assert not (tmp_path / f"{path}.tflite").exists()
