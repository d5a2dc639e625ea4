"""TFLite backend: the converted op list as LiteRT reads it, int8 parity metrics, metadata,
I/O types, determinism."""

from __future__ import annotations

import numpy as np
import pytest

import npukit
from npukit import ir
from npukit.converters.keras import from_keras_model
from npukit.converters.tflite import convert_graph
from npukit.errors import BadInputError, UnsupportedError
from npukit.parity import cosine
from npukit.reference import evaluate
from npukit.runtime import make_interpreter, run_tflite
from npukit.tflite_file import read_tflite

# builtin ops the backend may emit, all delegable to NN-API at API 30 (shared/reference/nnapi.md)
DELEGABLE_INT8 = {
    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D", "MAX_POOL_2D", "MEAN", "RESHAPE",
    "ADD", "MUL", "CONCATENATION", "RELU", "RELU6", "MINIMUM", "SOFTMAX", "PAD", "QUANTIZE", "DEQUANTIZE",
}
FORBIDDEN = {"SHAPE", "STRIDED_SLICE", "PACK", "CAST", "SELECT_V2", "WHILE", "GATHER"}

INT8_MIN_COSINE = 0.98  # int8 tier: output cosine similarity with the float model
INT8_MIN_TOP1 = 0.90  # and top-1 agreement, on random inputs of the calibration distribution


def interpreter_ops(blob: bytes) -> tuple[list[str], list[dict]]:
    interp = make_interpreter(blob, use_xnnpack=False)
    return [op["op_name"] for op in interp._get_ops_details()], interp.get_tensor_details()


@pytest.fixture(scope="module")
def converted(keras_models):
    out = {}
    rng = np.random.default_rng(0)
    for name, model in keras_models.items():
        graph = from_keras_model(model)
        calib = rng.uniform(0, 1, (200, *graph.input_shape)).astype(np.float32)
        blob, meta = convert_graph(graph, calib)
        out[name] = (graph, calib, blob, meta)
    return out


@pytest.mark.parametrize("name", ["sequential_cnn", "functional", "mlp"])
def test_int8_graph_is_builtin_static_and_integer(converted, name):
    graph, calib, blob, meta = converted[name]
    ops, tensors = interpreter_ops(blob)
    assert set(ops) <= DELEGABLE_INT8, set(ops) - DELEGABLE_INT8
    assert not set(ops) & FORBIDDEN
    assert "QUANTIZE" not in ops and "DEQUANTIZE" not in ops  # int8 I/O: no float at the borders
    for t in tensors:
        assert -1 not in list(t["shape_signature"]), t["name"]  # static shapes
        assert t["dtype"] in (np.int8, np.int32), (t["name"], t["dtype"])  # no float tensor anywhere


@pytest.mark.parametrize("name", ["sequential_cnn", "functional", "mlp"])
def test_int8_outputs_track_the_float_model(converted, name):
    graph, calib, blob, meta = converted[name]
    x = np.random.default_rng(1).uniform(0, 1, (200, *graph.input_shape)).astype(np.float32)
    want = evaluate(graph, x)[graph.output]
    got, layers = run_tflite(blob, x, meta["tensor_map"])
    assert cosine(want, got) >= INT8_MIN_COSINE
    assert np.mean(want.argmax(1) == got.argmax(1)) >= INT8_MIN_TOP1
    assert graph.output in layers and len(layers) >= 3
    acts = evaluate(graph, x, keep=list(layers))
    for node, values in layers.items():  # every traced tensor holds its node's activation
        assert cosine(acts[node], values) >= INT8_MIN_COSINE, node


def test_metadata_is_written_and_read_back(converted):
    graph, calib, blob, meta = converted["mlp"]
    info = read_tflite(blob)
    stored = info.npukit_metadata()
    assert stored == meta
    interp = make_interpreter(blob)
    scale, zero = interp.get_input_details()[0]["quantization"]
    assert stored["input"]["scale"] == pytest.approx(scale) and stored["input"]["zero_point"] == zero
    assert stored["quantization"] == "int8" and stored["io_dtype"] == "int8" and stored["batch"] == 1


def test_conversion_is_byte_identical(keras_models):
    graph = from_keras_model(keras_models["sequential_cnn"])
    calib = np.random.default_rng(2).uniform(0, 1, (50, *graph.input_shape)).astype(np.float32)
    first, _ = convert_graph(graph, calib, metadata={"note": 1})
    second, _ = convert_graph(graph, calib, metadata={"note": 1})
    assert first == second


@pytest.mark.parametrize("io, dtype", [("uint8", np.uint8), ("float32", np.float32)])
def test_io_types(converted, io, dtype):
    graph, calib, _, _ = converted["mlp"]
    blob, meta = convert_graph(graph, calib, io=io)
    interp = make_interpreter(blob)
    assert interp.get_input_details()[0]["dtype"] == dtype
    assert interp.get_output_details()[0]["dtype"] == dtype
    ops, _ = interpreter_ops(blob)
    assert set(ops) <= DELEGABLE_INT8
    x = calib[:50]
    got, _ = run_tflite(blob, x)
    assert cosine(evaluate(graph, x)[graph.output], got) >= INT8_MIN_COSINE


def test_float32_model_matches_the_reference(converted):
    graph, calib, _, _ = converted["functional"]
    blob, meta = convert_graph(graph, None, quantize="none")
    assert meta["quantization"] == "none" and meta["io_dtype"] == "float32"
    got, _ = run_tflite(blob, calib[:40])
    np.testing.assert_allclose(got, evaluate(graph, calib[:40])[graph.output], atol=1e-5)


def test_static_batch(converted):
    graph, calib, _, _ = converted["mlp"]
    blob, meta = convert_graph(graph, calib, batch=8)
    assert meta["input"]["shape"] == [8, 20]
    ops, tensors = interpreter_ops(blob)
    assert all(-1 not in list(t["shape_signature"]) for t in tensors)
    got, _ = run_tflite(blob, calib[:13])  # 13 samples: two invokes, the last padded
    assert got.shape == (13, 7)


def test_backend_refuses_bad_requests(converted):
    graph, calib, _, _ = converted["mlp"]
    with pytest.raises(BadInputError, match="io must be one of"):
        convert_graph(graph, calib, io="int4")
    with pytest.raises(BadInputError, match="batch must be an integer"):
        convert_graph(graph, calib, batch=0)
    with pytest.raises(BadInputError, match="needs calibration data"):
        convert_graph(graph, None)
    snn = npukit.Graph(
        [ir.Input("x", (), shape=(3,)), ir.IF("s", ("x",), v_threshold=np.array(1.0))], "s"
    )
    with pytest.raises(UnsupportedError, match="rate-coded graphs"):
        convert_graph(snn, np.zeros((4, 3), np.float32))


def test_reader_refuses_foreign_and_truncated_files(tmp_path, converted):
    blob = converted["mlp"][2]
    with pytest.raises(BadInputError, match="not a TFLite model"):
        read_tflite(b"PK\x03\x04 this is a zip")
    with pytest.raises(BadInputError):
        read_tflite(blob[:100])
