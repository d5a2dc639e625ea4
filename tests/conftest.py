"""Shared fixtures: small Keras models built here (never loaded from the network), the shipped
example, and converted files reused across tests of one session."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

from npukit.data import digits
from npukit.models import DIGITS_CNN


def _keras():
    import keras

    return keras


def sequential_cnn():
    """Conv (same, valid, strided, dilated), avg and max pools, flatten, dense, ReLU6, softmax."""
    keras = _keras()
    keras.utils.set_random_seed(1)
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input((12, 12, 2)),
            L.Conv2D(8, 3, padding="same", activation="relu"),
            L.Conv2D(8, 3, padding="valid", dilation_rate=2, activation="relu6"),
            L.AveragePooling2D(2),
            L.Conv2D(12, 3, strides=2, padding="same", activation="relu"),
            L.MaxPooling2D(2, padding="same"),
            L.Flatten(),
            L.Dense(16, activation="relu"),
            L.Dense(5, activation="softmax"),
        ],
        name="seq_cnn",
    )


def functional_net():
    """Conv + BatchNorm, DepthwiseConv2D + BatchNorm, residual Add, Concatenate, GAP, Dense."""
    keras = _keras()
    keras.utils.set_random_seed(2)
    L = keras.layers
    x = keras.Input((10, 10, 3))
    a = L.Conv2D(8, 3, padding="same", use_bias=False)(x)
    a = L.BatchNormalization()(a)
    a = L.ReLU()(a)
    b = L.DepthwiseConv2D(3, padding="same", depth_multiplier=1)(a)
    b = L.BatchNormalization()(b)
    b = L.ReLU(max_value=6.0)(b)
    c = L.Add()([a, b])
    d = L.Conv2D(4, 1, activation="relu")(c)
    e = L.Concatenate()([c, d])
    e = L.AveragePooling2D(2, padding="same")(e)
    f = L.GlobalAveragePooling2D()(e)
    out = L.Dense(6)(f)
    model = keras.Model(x, out, name="functional")
    rng = np.random.default_rng(3)
    for layer in model.layers:  # non-trivial BatchNorm statistics
        if isinstance(layer, L.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.2, beta.shape),
                    rng.normal(0, 0.3, mean.shape), rng.uniform(0.5, 2.0, var.shape),
                ]
            )
    return model


def mlp():
    """Dense layers with ReLU, a clipped ReLU, Dropout."""
    keras = _keras()
    keras.utils.set_random_seed(4)
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input((20,)),
            L.Dense(32, activation="relu"),
            L.Dropout(0.5),
            L.Dense(24),
            L.ReLU(max_value=3.0),
            L.Dense(7),
        ],
        name="mlp",
    )


@pytest.fixture(scope="session")
def keras_models():
    return {"sequential_cnn": sequential_cnn(), "functional": functional_net(), "mlp": mlp()}


@pytest.fixture(scope="session")
def digits_test():
    return digits("test")


@pytest.fixture(scope="session")
def digits_train():
    return digits("train")


@pytest.fixture(scope="session")
def shipped_model():
    assert DIGITS_CNN.exists(), "models/digits_cnn.keras is missing from the installed package"
    return DIGITS_CNN


@pytest.fixture(scope="session")
def shipped_tflite(tmp_path_factory, shipped_model):
    """The shipped CNN converted once per session with default settings (int8)."""
    import npukit

    path = tmp_path_factory.mktemp("converted") / "digits_cnn.tflite"
    npukit.convert(shipped_model, path)
    return path


#: the shipped SNNs: source, data, conversion settings
SHIPPED_SNNS = {
    "events": ("DIGITS_EVENTS", "digits-events", {}),
    "lif": ("DIGITS_LIF", "digits", {"timesteps": 25}),
    "rsnn": ("DIGITS_RSNN", "digits-rows", {}),
}


@pytest.fixture(scope="session")
def shipped_temporal(tmp_path_factory):
    """``shipped_temporal(name, **settings)``: the path of the shipped SNN ``name`` ("events",
    "lif", "rsnn") converted to a temporal .tflite with ``settings`` (quantize, state, rounding,
    api_level...), converted once per session and settings."""
    import npukit
    from npukit import models

    folder = tmp_path_factory.mktemp("temporal")
    made: dict = {}

    def convert(name: str, **settings):
        key = (name, tuple(sorted(settings.items())))
        if key not in made:
            source, data, defaults = SHIPPED_SNNS[name]
            path = folder / f"{name}_{len(made)}.tflite"
            npukit.convert(getattr(models, source), path, mode="temporal", data=data, **{**defaults, **settings})
            made[key] = path
        return made[key]

    return convert
