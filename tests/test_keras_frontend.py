"""Keras frontend: float evaluation of the IR against Keras itself, safe loading, errors."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

import npukit
from npukit import ir
from npukit.converters.keras import from_keras_model, supported_layers
from npukit.errors import BadInputError, UnsupportedError
from npukit.reference import evaluate

FLOAT_TOLERANCE = 1e-5  # max abs difference, float IR evaluator vs Keras (float32)


@pytest.mark.parametrize("name", ["sequential_cnn", "functional", "mlp"])
def test_float_evaluator_matches_keras(keras_models, name):
    model = keras_models[name]
    graph = from_keras_model(model)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(64, *graph.input_shape)).astype(np.float32)
    want = model.predict(x, verbose=0)
    got = evaluate(graph, x)[graph.output]
    assert got.shape == want.shape
    assert np.max(np.abs(got - want)) <= FLOAT_TOLERANCE


def test_batchnorm_is_folded_and_activations_are_nodes(keras_models):
    graph = from_keras_model(keras_models["functional"])
    types = [type(n).__name__ for n in graph]
    assert "BatchNorm" not in types
    assert len(graph.meta["folded_batchnorm"]) == 2
    relu6 = [n for n in graph if isinstance(n, ir.ReLU) and n.max_value == 6.0]
    assert len(relu6) == 1
    assert {"Add", "Concatenate", "DepthwiseConv2D", "GlobalAveragePool"} <= set(types)


def test_saved_file_round_trip(tmp_path, keras_models):
    model = keras_models["mlp"]
    for suffix in (".keras", ".h5"):
        path = tmp_path / f"mlp{suffix}"
        model.save(path)
        graph = npukit.load(path)
        x = np.random.default_rng(1).normal(size=(8, 20)).astype(np.float32)
        np.testing.assert_allclose(evaluate(graph, x)[graph.output], model.predict(x, verbose=0), atol=FLOAT_TOLERANCE)
        assert len(graph.meta["source_sha256"]) == 64


def test_unsupported_layer_names_itself_and_the_supported_set():
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.GroupNormalization(3, name="gn")])
    with pytest.raises(UnsupportedError, match=r"layer 'gn': Keras layer GroupNormalization is not supported; supported: .*Conv2D"):
        from_keras_model(model)
    assert {"Conv2D", "Dense", "DepthwiseConv2D", "BatchNormalization", "Add", "Concatenate"} <= set(supported_layers())


def test_unsupported_activation_is_named():
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh", name="d")])
    with pytest.raises(UnsupportedError, match="activation 'tanh' of layer 'd'"):
        from_keras_model(model)


def test_lambda_layer_is_refused_and_never_runs(tmp_path):
    import keras

    marker = tmp_path / "pwned.txt"
    code = f"lambda x: (open({str(marker)!r}, 'w').write('ran'), x)[1]"
    model = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(eval(code))])
    path = tmp_path / "lambda.keras"
    model.save(path)
    marker.unlink(missing_ok=True)  # saving traced the lambda once; loading must not run it
    with pytest.raises(BadInputError, match="Lambda layer") as info:
        npukit.load(path)
    assert "\n" not in str(info.value)
    assert not marker.exists()


def test_truncated_and_foreign_files(tmp_path, shipped_model):
    data = shipped_model.read_bytes()
    cut = tmp_path / "cut.keras"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(BadInputError, match="not a .keras archive"):
        npukit.load(cut)
    fake_h5 = tmp_path / "fake.h5"
    fake_h5.write_bytes(b"not hdf5 at all")
    with pytest.raises(BadInputError, match="not an HDF5 file"):
        npukit.load(fake_h5)
    empty_zip = tmp_path / "empty.keras"
    with zipfile.ZipFile(empty_zip, "w"):
        pass
    with pytest.raises(BadInputError, match=r"not a Keras model archive \(no config.json\)"):
        npukit.load(empty_zip)
    saved = tmp_path / "sm"
    saved.mkdir()
    (saved / "saved_model.pb").write_bytes(b"")
    with pytest.raises(UnsupportedError, match="SavedModel"):
        npukit.load(saved)
    with pytest.raises(BadInputError, match="does not exist"):
        npukit.load(tmp_path / "missing.keras")


def test_dense_on_images_becomes_a_1x1_convolution():
    import keras

    model = keras.Sequential([keras.Input((3, 3, 2)), keras.layers.Dense(4), keras.layers.GlobalAveragePooling2D()])
    graph = from_keras_model(model)
    assert isinstance(graph[model.layers[0].name], ir.Conv2D)
    x = np.random.default_rng(2).normal(size=(5, 3, 3, 2)).astype(np.float32)
    np.testing.assert_allclose(evaluate(graph, x)[graph.output], model.predict(x, verbose=0), atol=FLOAT_TOLERANCE)
