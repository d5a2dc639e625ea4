"""Recurrent ANNs (Keras LSTM / GRU, ONNX LSTM / GRU nodes) as one-step TFLite graphs whose h
and c the host carries (temporal mode, ``converters/rnn_cells.py``): checked over whole
sequences against Keras' ``model.predict``, onnxruntime (ONNX's reference evaluator for
``layout`` 1, which onnxruntime does not run) and torch's exports; their op lists and NN-API
delegation; bundles; and the refusals.

Tolerances: float32 within ``FLOAT_TOL`` of the framework. int8 (every tensor and state
quantized, ranges calibrated over whole sequences) within the int8 tier: cosine >=
``INT8_COSINE``, max abs error <= ``INT8_MAX_ERROR`` of the reference's largest magnitude,
top-1 agreement >= ``INT8_TOP1`` (per sample, or per sample and step for a sequence output).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from npukit.bundle import read_bundle
from npukit.cli import app
from npukit.conversion import convert
from npukit.errors import BadInputError
from npukit.parity.metrics import cosine
from npukit.runtime.steploop import run_temporal
from npukit.tflite_file import read_tflite
from tests.frameworks import need

keras = pytest.importorskip("keras")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

runner = CliRunner()
STEPS, FEATURES, CLASSES, VOCABULARY = 7, 5, 4, 30
FLOAT_TOL = 1e-5
INT8_COSINE, INT8_MAX_ERROR, INT8_TOP1 = 0.99, 0.1, 0.9
#: what a step graph is made of: no WHILE, no TensorList ops (the plain TFLiteConverter's
#: output for an LSTM, which NN-API cannot take), no UNIDIRECTIONAL_SEQUENCE_LSTM
STEP_OPS = {"FULLY_CONNECTED", "ADD", "MUL", "LOGISTIC", "TANH", "GATHER", "SOFTMAX"}  # SOFTMAX: a per-step head
#: an int8 model with float32 states (the default from API 30) also crosses between int8 and float32
INT8_STEP_OPS = STEP_OPS | {"QUANTIZE", "DEQUANTIZE"}


# -- models ----------------------------------------------------------------------------------------


def _randomized(model, seed: int):
    """Every weight (biases too, which Keras starts at zero) drawn at random, so every gate works."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def _keras_model(name: str):
    keras.utils.set_random_seed(0)
    layers = keras.layers
    if name == "embedding_stack":  # token ids -> Embedding -> LSTM (sequences) -> GRU (last) -> Dense
        inp = keras.Input((STEPS,), dtype="int32")
        x = layers.LSTM(10, return_sequences=True)(layers.Embedding(VOCABULARY, 6)(inp))
        out = layers.Dense(CLASSES)(layers.GRU(8)(x))
    else:
        inp = keras.Input((None, FEATURES))  # T left open: the data set it
        if name == "lstm_last":
            x = layers.LSTM(12)(inp)
        elif name == "gru_sequence":
            x = layers.GRU(9, return_sequences=True)(inp)  # reset_after=True, Keras' default
        elif name == "gru_reset_before":
            x = layers.GRU(9, reset_after=False)(inp)
        else:
            x = getattr(layers, name.split("_")[0].upper())(6, **{name.split("_", 1)[1]: True})(inp)
        out = layers.Dense(CLASSES, activation="softmax" if name == "gru_sequence" else None)(x)
    return _randomized(keras.Model(inp, out), len(name))


def _sequences(name: str, n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if name == "embedding_stack":
        return rng.integers(0, VOCABULARY, (n, STEPS)).astype(np.float32)
    return rng.normal(0, 1, (n, STEPS, FEATURES)).astype(np.float32)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("rnn")


@pytest.fixture(scope="module")
def keras_cases(folder):
    """name -> (model path, data .npz, x, Keras' outputs)."""
    cases = {}
    for name in ("lstm_last", "gru_sequence", "gru_reset_before", "embedding_stack"):
        model = _keras_model(name)
        x = _sequences(name, 24)
        path, data = folder / f"{name}.keras", folder / f"{name}.npz"
        model.save(path)
        np.savez(data, x=x, y=np.arange(len(x)) % CLASSES)
        cases[name] = (path, data, x, model.predict(x, verbose=0))
    return cases


def _converted(folder, source, data, quantize: str, name: str):
    out = folder / f"{name}.{quantize}.tflite"
    result = convert(source, out, mode="temporal", data=data, quantize=quantize, calibration_samples=24)
    assert result.delegation.fully_delegated, result.delegation.ops
    ops = set(read_tflite(out).op_names())
    allowed = INT8_STEP_OPS if quantize == "int8" else STEP_OPS
    assert ops <= allowed, ops - allowed
    return out, result.metadata


def _int8_tier(reference: np.ndarray, got: np.ndarray) -> dict[str, float]:
    """The int8 figures of ``got`` against the float reference (module docstring); top-1 over
    the classes of each sample, or of each sample and step for a sequence output."""
    figures = {
        "cosine": cosine(reference, got),
        "max_error": float(np.abs(reference - got).max() / np.abs(reference).max()),
        "top1": float(np.mean(reference.argmax(axis=-1) == got.argmax(axis=-1))),
    }
    print(figures)
    assert figures["cosine"] >= INT8_COSINE and figures["max_error"] <= INT8_MAX_ERROR and figures["top1"] >= INT8_TOP1, figures
    return figures


# -- Keras -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["lstm_last", "gru_sequence", "gru_reset_before", "embedding_stack"])
def test_keras_float32_step_graph_matches_keras_over_whole_sequences(name, keras_cases, folder):
    source, data, x, expected = keras_cases[name]
    model, meta = _converted(folder, source, data, "none", name)
    assert meta["readout"] == ("sequence" if name == "gru_sequence" else "last")
    got = run_temporal(model, x)
    assert got.readouts.shape == expected.shape
    np.testing.assert_allclose(got.readouts, expected, rtol=0, atol=FLOAT_TOL)
    states = read_tflite(model).npukit_metadata()["state_order"]
    assert len(states) == {"lstm_last": 2, "gru_sequence": 1, "gru_reset_before": 1, "embedding_stack": 3}[name]


@pytest.mark.parametrize("name", ["embedding_stack", "gru_sequence"])
def test_keras_int8_step_graph_is_within_the_int8_tier(keras_cases, folder, name):
    """int8 FULLY_CONNECTED layers, float32 cells and states (the default from API 30); a softmax
    head calibrates too. Measured on 200 held-out sequences against the graph npukit wrote before
    the state schemes (full int8): cosine 0.99994-0.99997 against 0.99967-0.99992, top-1 never lower."""
    source, data, x, expected = keras_cases[name]
    model, meta = _converted(folder, source, data, "int8", name)
    info = read_tflite(model)
    assert meta["state"] == "float32" and meta["rounding"] == "nearest"
    if name == "embedding_stack":
        assert info.tensors[info.inputs[0]].dtype == "INT32"  # token ids index the GATHER unquantized
    _int8_tier(expected, run_temporal(model, x).readouts)


def test_bundle_of_a_recurrent_model_predicts_from_the_last_step(keras_cases, folder):
    source, data, x, keras_predictions = keras_cases["embedding_stack"]
    model = folder / "embedding_stack.int8.tflite"
    if not model.exists():
        _converted(folder, source, data, "int8", "embedding_stack")
    result = runner.invoke(app, ["bundle", str(model), "--data", str(data), "--out", str(folder), "--force"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads((folder / model.stem / "bundle.json").read_text())
    assert doc["readout"] == "last" and doc["mode"] == "temporal" and doc["frames_per_sample"] == STEPS
    assert doc["inputs"][0]["dtype"] == "int32" and doc["inputs"][0]["scale"] is None
    assert [s["layer"] for s in doc["states"]] == [s["layer"] for s in read_tflite(model).npukit_metadata()["state_order"]]
    _, vectors = read_bundle(folder / model.stem)
    assert np.mean(vectors.predictions == keras_predictions.argmax(axis=1)) >= INT8_TOP1  # the last step's, as Keras
    assert doc["host"]["accuracy"] == pytest.approx(np.mean(vectors.predictions == np.arange(len(x)) % CLASSES))


def test_bundle_refuses_a_sequence_output(keras_cases, folder):
    source, data, _, _ = keras_cases["gru_sequence"]
    model = folder / "gru_sequence.none.tflite"
    if not model.exists():
        _converted(folder, source, data, "none", "gru_sequence")
    out = folder / "bundles"
    out.mkdir()
    _refused(["bundle", str(model), "--data", str(data), "--out", str(out)], out / model.stem,
             "the model's output is a sequence (readout 'sequence')")
    assert not any(out.iterdir())


# -- ONNX ------------------------------------------------------------------------------------------


def _onnx_rnn(kind: str, layout: int, last: bool, reset_after: int = 0, hidden: int = 7, **attributes):
    """X (N, T, F) -> [Transpose to (T, N, F) for layout 0] -> LSTM / GRU -> the direction axis
    squeezed -> [back to batch-first] -> MatMul + Add; the last step's h (Y_h) or every step's (Y)."""
    rng = np.random.default_rng([len(kind), layout, int(last), reset_after])
    gates = 4 if kind == "LSTM" else 3
    constants = {
        "W": rng.normal(0, 0.5, (1, gates * hidden, FEATURES)), "R": rng.normal(0, 0.5, (1, gates * hidden, hidden)),
        "B": rng.normal(0, 0.3, (1, 2 * gates * hidden)), "Wo": rng.normal(0, 0.5, (hidden, CLASSES)),
        "bo": rng.normal(0, 0.2, (CLASSES,)), "axis": np.array([(0 if last else 1) + layout], np.int64),
    }
    nodes, x = [], "x"
    if layout == 0:
        nodes.append(helper.make_node("Transpose", ["x"], ["x_tnf"], perm=[1, 0, 2]))
        x = "x_tnf"
    options = {"hidden_size": hidden, "layout": layout, **attributes}
    if kind == "GRU":
        options["linear_before_reset"] = reset_after
    nodes.append(helper.make_node(kind, [x, "W", "R", "B"], ["Y", "Y_h"], name="rnn", **options))
    nodes.append(helper.make_node("Squeeze", ["Y_h" if last else "Y", "axis"], ["h"]))
    h = "h"
    if layout == 0 and not last:
        nodes.append(helper.make_node("Transpose", ["h"], ["h_ntf"], perm=[1, 0, 2]))
        h = "h_ntf"
    nodes += [helper.make_node("MatMul", [h, "Wo"], ["mm"]), helper.make_node("Add", ["mm", "bo"], ["out"])]
    graph = helper.make_graph(
        nodes, "rnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", STEPS, FEATURES])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.asarray(v, np.float32 if v.dtype.kind == "f" else v.dtype), k) for k, v in constants.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _onnx_reference(model, x: np.ndarray, layout: int) -> np.ndarray:
    if layout == 0:
        return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    from onnx.reference import ReferenceEvaluator  # onnxruntime refuses layout 1 ("batchwise")

    return ReferenceEvaluator(model).run(None, {"x": x})[0]


ONNX_CASES = [("LSTM", 0, True, 0), ("LSTM", 1, False, 0), ("GRU", 0, False, 0), ("GRU", 0, True, 1), ("GRU", 1, True, 1)]


@pytest.mark.parametrize("kind,layout,last,reset_after", ONNX_CASES, ids=[f"{k}-layout{l}-{'last' if s else 'seq'}-lbr{r}" for k, l, s, r in ONNX_CASES])
def test_onnx_recurrent_nodes_match_onnx_over_whole_sequences(kind, layout, last, reset_after, folder):
    from npukit.converters.onnx import from_onnx_model
    from npukit.reference import evaluate

    model = _onnx_rnn(kind, layout, last, reset_after)
    x = _sequences("onnx", 6)
    expected = _onnx_reference(model, x, layout)
    graph = from_onnx_model(model)
    assert graph.meta["readout"] == ("last" if last else "sequence")
    np.testing.assert_allclose(evaluate(graph, x)[graph.output], expected, rtol=0, atol=FLOAT_TOL)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_onnx_step_graphs_float32_and_int8(kind, folder):
    model = _onnx_rnn(kind, 0, kind == "LSTM", reset_after=1)
    path, data = folder / f"{kind}.onnx", folder / f"{kind}.npz"
    onnx.save(model, str(path))
    x = _sequences("onnx", 24, seed=2)
    np.savez(data, x=x)
    expected = _onnx_reference(model, x, 0)
    float_model, _ = _converted(folder, path, data, "none", kind)
    np.testing.assert_allclose(run_temporal(float_model, x).readouts, expected, rtol=0, atol=FLOAT_TOL)
    int8_model, _ = _converted(folder, path, data, "int8", kind)
    _int8_tier(expected, run_temporal(int8_model, x).readouts)


@pytest.mark.parametrize("exporter", ["legacy", "dynamo"])
def test_torch_exports_of_lstm_and_gru_match_onnxruntime(exporter, tmp_path):
    torch = need("torch", "the torch export cross-check needs torch")
    if exporter == "dynamo":
        need("onnxscript", "torch's default (dynamo) ONNX exporter needs onnxscript")
    from npukit.converters.onnx import load_onnx
    from npukit.reference import evaluate

    class Net(torch.nn.Module):  # batch_first, the last step read as torch users write it
        def __init__(self, cell):
            super().__init__()
            self.rnn, self.out = cell(FEATURES, 8, batch_first=True), torch.nn.Linear(8, CLASSES)

        def forward(self, x):
            return self.out(self.rnn(x)[0][:, -1])

    torch.manual_seed(0)
    x = _sequences("torch", 1)  # torch exports the batch size it traced
    for cell in (torch.nn.LSTM, torch.nn.GRU):
        path = tmp_path / f"{cell.__name__}.{exporter}.onnx"
        kwargs = {"dynamo": False, "opset_version": 17} if exporter == "legacy" else {}
        torch.onnx.export(Net(cell).eval(), (torch.from_numpy(x),), str(path), input_names=["x"], **kwargs)
        expected = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        graph = load_onnx(path)
        np.testing.assert_allclose(evaluate(graph, x)[graph.output], expected, rtol=0, atol=FLOAT_TOL)


# -- refusals --------------------------------------------------------------------------------------


def _refused(args: list[str], out, message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert not out.exists()


@pytest.mark.parametrize("option,message", [
    ("LSTM_go_backwards", "go_backwards=True is not supported"),
    ("GRU_return_state", "layer 'gru_return_state' has 2 outputs; one is supported"),
    ("bidirectional", "layer 'bidirectional' (Bidirectional) is not supported: its backward layer needs the whole sequence"),
])
def test_unsupported_keras_options_are_refused(option, message, tmp_path):
    if option == "bidirectional":
        inp = keras.Input((STEPS, FEATURES))
        model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.Bidirectional(keras.layers.LSTM(4), name="bidirectional")(inp)))
    elif option == "GRU_return_state":
        inp = keras.Input((STEPS, FEATURES))
        model = keras.Model(inp, keras.layers.GRU(4, return_state=True, name="gru_return_state")(inp)[1])
    else:
        model = _keras_model(option)
    path, out = tmp_path / "m.keras", tmp_path / "m.tflite"
    model.save(path)
    _refused(["convert", str(path), "-o", str(out), "--mode", "temporal", "--quantize", "none"], out, message)


def test_stateful_keras_layer_is_refused():
    from npukit.converters.keras import from_keras_model
    from npukit.errors import UnsupportedError

    inp = keras.Input(batch_shape=(1, STEPS, FEATURES))  # Keras cannot reload such a model from .keras
    model = keras.Model(inp, keras.layers.LSTM(4, stateful=True, name="carried")(inp))
    with pytest.raises(UnsupportedError, match="LSTM 'carried' with stateful=True is not supported: it keeps its state across batches"):
        from_keras_model(model)


@pytest.mark.parametrize("attributes,message", [
    ({"direction": "bidirectional"}, "direction 'bidirectional' is not supported"),
    ({"direction": "reverse"}, "direction 'reverse' is not supported"),
    ({"clip": 3.0}, "clip is not supported"),
    ({"activations": ["Sigmoid", "Relu", "Tanh"]}, "activations ['Sigmoid', 'Relu', 'Tanh'] are not supported"),
])
def test_unsupported_onnx_lstm_options_are_refused(attributes, message, tmp_path):
    path, out = tmp_path / "m.onnx", tmp_path / "m.tflite"
    onnx.save(_onnx_rnn("LSTM", 0, True, **attributes), str(path))
    _refused(["convert", str(path), "-o", str(out), "--mode", "temporal", "--quantize", "none"], out, message)


def test_an_onnx_op_that_mixes_timesteps_is_refused(tmp_path):
    model = _onnx_rnn("GRU", 0, False)
    matmul = next(k for k, n in enumerate(model.graph.node) if n.op_type == "MatMul")
    model.graph.node[matmul].CopyFrom(helper.make_node("Flatten", ["h_ntf"], ["mm"], name="flat"))  # (N, T * H)
    path, out = tmp_path / "m.onnx", tmp_path / "m.tflite"
    onnx.save(model, str(path))
    _refused(["convert", str(path), "-o", str(out), "--mode", "temporal", "--quantize", "none"], out,
             "Flatten node 'flat' (opset 17): Flatten on a sequence (axes (batch, time, features)) mixes its timesteps")


def test_a_step_that_mixes_timesteps_is_refused(tmp_path):
    inp = keras.Input((STEPS, FEATURES))
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.Flatten()(keras.layers.LSTM(4, return_sequences=True)(inp))))
    path, out = tmp_path / "m.keras", tmp_path / "m.tflite"
    model.save(path)
    _refused(["convert", str(path), "-o", str(out), "--mode", "temporal", "--quantize", "none"], out, "mixes the timesteps")


def test_bad_data_is_refused(keras_cases, tmp_path):
    source, data, x, _ = keras_cases["embedding_stack"]
    out = tmp_path / "m.tflite"
    bad = x.copy()
    bad[3, 2] = VOCABULARY
    np.savez(tmp_path / "ids.npz", x=bad)
    _refused(["convert", str(source), "-o", str(out), "--mode", "temporal", "--data", str(tmp_path / "ids.npz")], out,
             f"token id {VOCABULARY} is not a whole number in 0..{VOCABULARY - 1}")
    source, data, x, _ = keras_cases["lstm_last"]
    np.savez(tmp_path / "features.npz", x=x[..., :-1])  # 4 features per step, the model takes 5
    _refused(["convert", str(source), "-o", str(out), "--mode", "temporal", "--data", str(tmp_path / "features.npz")], out,
             "data samples have shape (4,) but the model expects (5,)")
    np.savez(tmp_path / "frames.npz", x=x[:, 0])  # one frame per sample, no time axis
    _refused(["convert", str(source), "-o", str(out), "--mode", "temporal", "--data", str(tmp_path / "frames.npz")], out,
             "a recurrent model reads sequences")
    _refused(["convert", str(source), "-o", str(out), "--data", str(data)], out, "rate mode runs a model once per input")
    _refused(["simulate", str(source), "--data", str(data), "--save", str(out)], out, "a recurrent ANN (LSTM, GRU) has no spiking version")


def test_run_temporal_refuses_bad_token_ids_and_frames(keras_cases, folder):
    model = folder / "embedding_stack.none.tflite"
    if not model.exists():
        _converted(folder, *keras_cases["embedding_stack"][:2], "none", "embedding_stack")
    x = keras_cases["embedding_stack"][2].copy()
    x[0, 0] = 2.5
    with pytest.raises(BadInputError, match=r"token id 2.5 is not a whole number in 0..29"):
        run_temporal(model, x)
    with pytest.raises(BadInputError, match=r"a recurrent model reads sequences: give data of shape \(N, T\)"):
        run_temporal(model, np.zeros(2, np.float32), timesteps=3)  # one token per sample, no time axis
