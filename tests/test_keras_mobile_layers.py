"""Keras layers and activations of mobile architectures (issue 15) against Keras itself (float IR
within 1e-5, relative to the output's scale), their int8 .tflite within the int8 tier, a
reduced MobileNetV3 (96x96, alpha 0.75) end to end, and the spiking path's honest refusal for
activations that have no spiking form."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

import npukit
from npukit.cli import app
from npukit.converters.keras import from_keras_model
from npukit.errors import UnsupportedError
from npukit.nnapi.check import check_model
from npukit.parity.metrics import cosine
from npukit.reference import evaluate
from npukit.runtime import run_tflite

FLOAT_TOLERANCE = 1e-5
INT8_COSINE = 0.98
RNG = np.random.default_rng(0)


def _keras():
    from npukit.quiet import import_tensorflow

    import_tensorflow()
    import keras

    keras.utils.set_random_seed(0)
    return keras


def assert_matches_keras(model, x):
    graph = from_keras_model(model)
    expected = model.predict(x, verbose=0)
    got = evaluate(graph, x)[graph.output]
    np.testing.assert_allclose(got, expected, atol=FLOAT_TOLERANCE * max(1.0, float(np.abs(expected).max())))
    return graph


def efficient_block():
    """EfficientNet / MobileNetV3 blocks: Rescaling, Normalization, depthwise and grouped Conv2D,
    swish and hard_silu
    activations, squeeze-excite with a hard_sigmoid gate and Multiply, keras.ops arithmetic on
    tensors, Cropping2D, UpSampling2D (nearest, bilinear), LayerNormalization, gelu."""
    keras = _keras()
    layers = keras.layers
    inp = keras.Input((20, 20, 3))
    x = layers.Rescaling(1 / 127.5, offset=-1.0)(inp)
    x = layers.Normalization(mean=[0.1, -0.2, 0.3], variance=[0.5, 2.0, 1.5])(x)
    x = layers.Conv2D(8, 3, padding="same", activation="swish")(x)
    x = layers.DepthwiseConv2D(3, padding="same")(x)
    x = layers.Conv2D(8, 3, padding="same", groups=8)(x)  # ConvNeXt's depthwise spelling
    x = layers.Conv2D(8, 3, padding="same", groups=2)(x)  # a grouped convolution
    x = layers.Activation("hard_silu")(x)
    s = layers.GlobalAveragePooling2D(keepdims=True)(x)
    s = layers.Conv2D(4, 1, activation="relu")(s)
    s = layers.Conv2D(8, 1, activation="hard_sigmoid")(s)
    x = layers.Multiply()([x, s])
    x = x * 0.5 + layers.Activation("silu")(x)  # keras.ops nodes: a constant and a tensor operand
    x = layers.Cropping2D(((1, 2), (2, 1)))(x)
    x = layers.UpSampling2D(2, interpolation="bilinear")(x)
    x = layers.UpSampling2D((1, 2), interpolation="nearest")(x)
    x = layers.LayerNormalization(epsilon=1e-3)(x)
    x = layers.Dense(12, activation="gelu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inp, layers.Dense(5)(x))


def sequence_block():
    keras = _keras()
    layers = keras.layers
    inp = keras.Input((24, 3))
    x = layers.Conv1D(8, 3, padding="same", activation="relu")(inp)
    x = layers.MaxPooling1D(2)(x)
    x = layers.Conv1D(8, 3, strides=2, activation="swish")(x)
    x = layers.GlobalAveragePooling1D()(x)
    return keras.Model(inp, layers.Dense(4)(x))


def test_mobile_layers_match_keras():
    model = efficient_block()
    graph = assert_matches_keras(model, RNG.uniform(0, 255, (6, 20, 20, 3)).astype(np.float32))
    kinds = {type(n).__name__ for n in graph}
    assert {"Swish", "HardSwish", "HardSigmoid", "Multiply", "Slice", "Resize", "LayerNorm", "Gelu"} <= kinds
    assert [n.groups for n in graph if type(n).__name__ == "Conv2D"].count(2) == 1
    assert sum(type(n).__name__ == "DepthwiseConv2D" for n in graph) == 2


def test_gelu_tanh_and_hard_sigmoid_match_keras():
    keras = _keras()
    inp = keras.Input((6,))
    x = keras.layers.Dense(6, activation=lambda t: keras.activations.gelu(t, approximate=True))(inp)
    model = keras.Model(inp, keras.layers.Activation("hard_sigmoid")(x))
    with pytest.raises(UnsupportedError, match="activation"):  # a Python function is not a known activation name
        from_keras_model(model)
    from npukit import ir
    from npukit.ops import forward

    x = RNG.normal(size=(50, 6)).astype(np.float32) * 3
    tanh = forward(ir.Gelu("g", ("x",), approximate="tanh"), [x])
    np.testing.assert_allclose(tanh, keras.activations.gelu(x, approximate=True), atol=FLOAT_TOLERANCE)
    hard = forward(ir.HardSigmoid("h", ("x",), alpha=1 / 6, beta=0.5), [x])
    np.testing.assert_allclose(hard, keras.activations.hard_sigmoid(x), atol=FLOAT_TOLERANCE)


def test_one_dimensional_layers_match_keras():
    assert_matches_keras(sequence_block(), RNG.normal(size=(5, 24, 3)).astype(np.float32))


@pytest.mark.slow
def test_mobile_block_int8_within_the_int8_tier_and_delegated(tmp_path):
    model = efficient_block()
    path = tmp_path / "block.keras"
    model.save(path)
    x = RNG.uniform(0, 255, (64, 20, 20, 3)).astype(np.float32)
    np.savez(tmp_path / "calib.npz", x=x)
    result = npukit.convert(path, tmp_path / "block.tflite", data=tmp_path / "calib.npz", calibration_samples=64,
                            allow_cpu_fallback=True)
    out, _ = run_tflite(result.path, x[:16])
    assert cosine(out, model.predict(x[:16], verbose=0)) >= INT8_COSINE
    cpu = {op["op"] for op in check_model(result.path, api_level=30).ops if not op["delegated"]}
    assert cpu == {"GELU", "RSQRT"}  # NN-API has no GELU; int8 RSQRT (LayerNorm) needs feature level 7


@pytest.mark.slow
def test_reduced_mobilenet_v3_converts_delegated_and_faithful(tmp_path):
    keras = _keras()
    model = keras.applications.MobileNetV3Small(input_shape=(96, 96, 3), alpha=0.75, weights=None, classes=10,
                                                 classifier_activation=None, include_preprocessing=True)
    x = RNG.uniform(0, 255, (32, 96, 96, 3)).astype(np.float32)
    norms = [lay for lay in model.layers if isinstance(lay, keras.layers.BatchNormalization)]
    for lay in norms:  # random weights: BatchNorm statistics of real inputs give activations a usable scale
        lay.momentum = 0.0
    model(x, training=True)
    assert_matches_keras(model, x[:2])
    path = tmp_path / "v3.keras"
    model.save(path)
    np.savez(tmp_path / "calib.npz", x=x)
    result = npukit.convert(path, tmp_path / "v3.tflite", data=tmp_path / "calib.npz", calibration_samples=32)
    assert result.delegation.fully_delegated  # convert refuses otherwise
    out, _ = run_tflite(result.path, x[:8])
    assert cosine(out, model.predict(x[:8], verbose=0)) >= INT8_COSINE


def test_spiking_column_refuses_naming_the_first_layer(tmp_path):
    model = efficient_block()
    path = tmp_path / "block.keras"
    model.save(path)
    x = RNG.uniform(0, 255, (16, 20, 20, 3)).astype(np.float32)
    np.savez(tmp_path / "data.npz", x=x)
    with pytest.raises(UnsupportedError, match=r"^Swish 'conv2d(_\d+)?/silu' has no spiking equivalent"):
        npukit.simulate(path, data=tmp_path / "data.npz", timesteps=4)
    with pytest.raises(UnsupportedError, match="has no spiking equivalent"):
        npukit.convert(path, tmp_path / "t.tflite", mode="temporal", data=tmp_path / "data.npz", calibration_samples=16)
    result = CliRunner().invoke(app, ["simulate", str(path), "--data", str(tmp_path / "data.npz"), "-T", "4"])
    assert result.exit_code == 2 and "no spiking equivalent" in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_parity_reports_float_vs_tflite_without_an_snn(tmp_path):
    model = efficient_block()
    path = tmp_path / "block.keras"
    model.save(path)
    x = RNG.uniform(0, 255, (32, 20, 20, 3)).astype(np.float32)
    np.savez(tmp_path / "data.npz", x=x)
    tfl = npukit.convert(path, tmp_path / "b.tflite", data=tmp_path / "data.npz", calibration_samples=32,
                         allow_cpu_fallback=True).path
    report = npukit.parity(path, tfl, data=tmp_path / "data.npz", samples=16).to_dict()
    assert "no spiking equivalent" in report["snn_unavailable"]
    assert report["agreement"]["snn_vs_reference"] is None and report["agreement"]["tflite_vs_reference"] >= 0.5
    assert all(row["snn"] is None for row in report["layers"])
    result = CliRunner().invoke(app, ["parity", str(path), str(tfl), "--data", str(tmp_path / "data.npz"), "--samples", "8"])
    assert result.exit_code == 0, result.output
    assert "SNN: not compared" in result.output
