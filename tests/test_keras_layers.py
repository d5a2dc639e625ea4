"""Every Keras layer the frontend supports, run against Keras itself.

CASES maps each name in ``npukit.converters.keras.supported_layers()`` to small models that
use that layer (with the options that change its arithmetic: padding, strides, dilation,
clipping, per-channel constants, axes). Each model is saved as .keras, loaded with
``npukit.load`` (safe mode, as a user's file would be), evaluated by the float reference and
compared with ``model.predict``: max abs difference <= 1e-5 (float tier). A layer added to the
supported list without a case here fails ``test_layer_runs_against_keras``.
"""

from __future__ import annotations

import numpy as np
import pytest

import npukit
from npukit.converters.keras import supported_layers
from npukit.reference import evaluate

FLOAT_TOLERANCE = 1e-5  # max abs difference, float IR evaluator vs Keras (float32)


def _keras():
    import keras

    return keras


def chain(input_shape, *layers):
    """A functional model: Input -> layers in order (``model.operations`` lists them all)."""
    keras = _keras()
    keras.utils.set_random_seed(0)
    x = keras.Input(input_shape)
    y = x
    for make in layers:
        y = make()(y)
    return keras.Model(x, y)


def branches(input_shape, left, right, merge):
    """Input -> (left, right) -> merge([left, right])."""
    keras = _keras()
    keras.utils.set_random_seed(0)
    x = keras.Input(input_shape)
    return keras.Model(x, merge()([left()(x), right()(x)]))


def residual_add():
    """x + conv(x) + conv(conv(x)): the input itself is an operand, three operands."""
    keras = _keras()
    keras.utils.set_random_seed(0)
    x = keras.Input(IMG)
    a = L().Conv2D(3, 3, padding="same")(x)
    b = L().Conv2D(3, 1)(a)
    return keras.Model(x, L().Add()([x, a, b]))


def L():
    return _keras().layers


def wide(units):
    """A Dense layer with large weights: its outputs reach well past 6 (clipping is exercised)."""
    return lambda: L().Dense(units, kernel_initializer=_keras().initializers.RandomNormal(stddev=4.0, seed=1))


def conv(filters=4, kernel=3, **kw):
    return lambda: L().Conv2D(filters, kernel, padding=kw.pop("padding", "same"), **kw)


def dense(units, **kw):
    return lambda: L().Dense(units, **kw)


def with_random_batchnorm_statistics(model):
    """Non-trivial gamma, beta, moving mean and variance in every BatchNormalization layer."""
    rng = np.random.default_rng(3)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            weights = []
            for w in layer.weights:
                low, high = (0.5, 2.0) if "variance" in w.path or "gamma" in w.path else (-0.5, 0.5)
                weights.append(rng.uniform(low, high, w.shape).astype(np.float32))
            layer.set_weights(weights)
    return model


def _batchnorm(input_shape, *layers):
    return lambda: with_random_batchnorm_statistics(chain(input_shape, *layers))


IMG = (8, 8, 3)
SEQ = (9, 3)  # (steps, channels) for the 1-D layers
VOCABULARY = 20  # token ids of the Embedding case


def _tokens_embedded():
    keras = _keras()
    keras.utils.set_random_seed(0)
    ids = keras.Input((6,), dtype="int32")
    return keras.Model(ids, L().Dense(3)(L().GRU(5)(L().Embedding(VOCABULARY, 4)(ids))))


def _layer_scale(channels):
    """keras.layers.LayerScale (ConvNeXt's per-channel gain) with non-trivial gains."""
    from keras.src.applications.convnext import LayerScale

    layer = LayerScale(0.5, channels)
    layer.build((None, 8, 8, channels))
    layer.set_weights([np.linspace(-1.5, 2.0, channels).astype(np.float32)])
    return layer


def _normalization():
    """Normalization with per-channel mean and variance adapted from data."""
    layer = L().Normalization()
    layer.adapt(np.random.default_rng(4).normal([0.5, -1.0, 2.0], [1.0, 0.5, 3.0], (64, *IMG)).astype(np.float32))
    return layer


def _stochastic_depth():
    """ConvNeXt's residual with StochasticDepth (identity at inference)."""
    from keras.src.applications.convnext import StochasticDepth

    keras = _keras()
    keras.utils.set_random_seed(0)
    x = keras.Input(IMG)
    y = StochasticDepth(0.5)(L().Conv2D(3, 3, padding="same")(x))
    return keras.Model(x, L().Add()([x, y]))
CASES = {
    "Activation": {
        "relu": lambda: chain((10,), dense(6), lambda: L().Activation("relu"), dense(3)),
        "relu6": lambda: chain((10,), wide(6), lambda: L().Activation("relu6"), dense(3)),
        "softmax": lambda: chain((10,), dense(5), lambda: L().Activation("softmax")),
        "linear": lambda: chain((10,), dense(5), lambda: L().Activation("linear"), dense(3)),
    },
    "ActivityRegularization": {"l1": lambda: chain((10,), dense(6), lambda: L().ActivityRegularization(l1=0.1), dense(3))},
    "Add": {
        "two_convs": lambda: branches(IMG, conv(4), conv(4, 1), lambda: L().Add()),
        "residual_three_way": lambda: residual_add(),
    },
    "AlphaDropout": {"between_dense": lambda: chain((10,), dense(6), lambda: L().AlphaDropout(0.3), dense(3))},
    "AveragePooling2D": {
        "valid_2x2": lambda: chain(IMG, lambda: L().AveragePooling2D(2)),
        "same_3x3_stride_2": lambda: chain((7, 7, 3), lambda: L().AveragePooling2D(3, strides=2, padding="same")),
        "rect_pool_stride_1x2": lambda: chain(IMG, lambda: L().AveragePooling2D((2, 3), strides=(1, 2))),
    },
    "BatchNormalization": {
        "after_conv_folded": _batchnorm(IMG, conv(4, use_bias=False), lambda: L().BatchNormalization()),
        "on_the_input": _batchnorm(IMG, lambda: L().BatchNormalization(), conv(2)),
        "after_dense": _batchnorm((10,), dense(6), lambda: L().BatchNormalization(epsilon=0.1)),
        "no_center_no_scale": _batchnorm(IMG, conv(4), lambda: L().BatchNormalization(center=False, scale=False)),
    },
    "Concatenate": {
        "channels": lambda: branches(IMG, conv(2), conv(3, 1), lambda: L().Concatenate()),
        "height": lambda: branches(IMG, conv(2), conv(2, 1), lambda: L().Concatenate(axis=1)),
        "width": lambda: branches(IMG, conv(2), conv(2, 1), lambda: L().Concatenate(axis=2)),
        "vectors": lambda: branches((10,), dense(4), dense(3), lambda: L().Concatenate()),
    },
    "Conv2D": {
        "same": lambda: chain(IMG, conv(4)),
        "valid_dilated": lambda: chain(IMG, conv(4, padding="valid", dilation_rate=2)),
        "same_stride_2": lambda: chain((9, 9, 3), conv(4, strides=2)),
        "valid_stride_2x1_rect": lambda: chain(IMG, conv(4, (2, 3), padding="valid", strides=(2, 1))),
        "no_bias_relu6": lambda: chain(IMG, conv(4, use_bias=False, activation="relu6")),
        "relu_1x1": lambda: chain(IMG, conv(5, 1, activation="relu")),
    },
    "Dense": {
        "plain": lambda: chain((10,), dense(4)),
        "relu_no_bias": lambda: chain((10,), dense(6, activation="relu", use_bias=False), dense(3)),
        "softmax": lambda: chain((10,), dense(5, activation="softmax")),
        "relu6": lambda: chain((10,), wide(6), lambda: L().ReLU(max_value=6.0)),
        "on_images": lambda: chain(IMG, dense(4)),  # the channel axis: a 1x1 convolution
    },
    "DepthwiseConv2D": {
        "same": lambda: chain(IMG, lambda: L().DepthwiseConv2D(3, padding="same")),
        "multiplier_2_stride_2": lambda: chain(IMG, lambda: L().DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2)),
        "valid_dilated_relu": lambda: chain(IMG, lambda: L().DepthwiseConv2D(3, dilation_rate=2, activation="relu")),
    },
    "Dropout": {"between_dense": lambda: chain((10,), dense(6), lambda: L().Dropout(0.5), dense(3))},
    "Flatten": {"conv_flatten_dense": lambda: chain(IMG, conv(4), lambda: L().Flatten(), dense(3))},
    "GaussianDropout": {"between_dense": lambda: chain((10,), dense(6), lambda: L().GaussianDropout(0.3), dense(3))},
    "GaussianNoise": {"between_dense": lambda: chain((10,), dense(6), lambda: L().GaussianNoise(0.5), dense(3))},
    "GlobalAveragePooling2D": {
        "flat": lambda: chain(IMG, conv(4), lambda: L().GlobalAveragePooling2D(), dense(3)),
        "keepdims": lambda: chain(IMG, conv(4), lambda: L().GlobalAveragePooling2D(keepdims=True), conv(2, 1)),
    },
    "InputLayer": {"alone_before_dense": lambda: chain((10,), dense(3))},
    "MaxPooling2D": {
        "valid_2x2": lambda: chain(IMG, lambda: L().MaxPooling2D(2)),
        "same_3x3_stride_2_negative": lambda: chain((7, 7, 3), lambda: L().MaxPooling2D(3, strides=2, padding="same")),
        "rect_pool_stride_1": lambda: chain(IMG, lambda: L().MaxPooling2D((3, 2), strides=1)),
    },
    "ReLU": {
        "plain": lambda: chain((10,), dense(6), lambda: L().ReLU(), dense(3)),
        "max_value_half": lambda: chain((10,), dense(6), lambda: L().ReLU(max_value=0.5)),
        "max_value_6": lambda: chain((10,), wide(6), lambda: L().ReLU(max_value=6.0)),
    },
    "Rescaling": {
        "scalar": lambda: chain(IMG, lambda: L().Rescaling(1 / 255, offset=-0.5), conv(2)),
        "per_channel": lambda: chain(IMG, lambda: L().Rescaling([0.5, 2.0, -1.0], offset=[0.1, 0.0, -0.2]), conv(2)),
    },
    "Reshape": {
        "vector_to_image": lambda: chain((10,), dense(48), lambda: L().Reshape((4, 4, 3)), conv(2)),
        "image_to_vector": lambda: chain(IMG, conv(2), lambda: L().Reshape((-1,)), dense(3)),
        "image_to_image": lambda: chain(IMG, conv(2), lambda: L().Reshape((4, 16, 2)), conv(3)),
    },
    "SeparableConv2D": {
        "same": lambda: chain(IMG, lambda: L().SeparableConv2D(4, 3, padding="same")),
        "multiplier_2_stride_2_relu": lambda: chain(
            IMG, lambda: L().SeparableConv2D(5, 3, strides=2, padding="same", depth_multiplier=2, activation="relu")),
        "valid_dilated_no_bias": lambda: chain(IMG, lambda: L().SeparableConv2D(4, 3, dilation_rate=2, use_bias=False)),
    },
    "Softmax": {
        "vector": lambda: chain((10,), dense(5), lambda: L().Softmax()),
        "image_channels": lambda: chain(IMG, conv(4), lambda: L().Softmax()),
    },
    "SpatialDropout1D": {"sequence": lambda: chain((6, 4), lambda: L().SpatialDropout1D(0.5), lambda: L().Flatten(), dense(3))},
    "SpatialDropout2D": {"between_convs": lambda: chain(IMG, conv(4), lambda: L().SpatialDropout2D(0.5), conv(2))},
    "ZeroPadding2D": {
        "symmetric": lambda: chain(IMG, lambda: L().ZeroPadding2D(1), conv(2, padding="valid")),
        "asymmetric": lambda: chain(IMG, lambda: L().ZeroPadding2D(((1, 2), (0, 3))), conv(2, padding="valid")),
    },
    "AveragePooling1D": {"valid_2": lambda: chain(SEQ, lambda: L().AveragePooling1D(2)),
                         "same_3_stride_2": lambda: chain((7, 3), lambda: L().AveragePooling1D(3, strides=2, padding="same"))},
    "Conv1D": {"same": lambda: chain(SEQ, lambda: L().Conv1D(4, 3, padding="same")),
               "valid_dilated_relu": lambda: chain(SEQ, lambda: L().Conv1D(4, 3, dilation_rate=2, activation="relu"))},
    "Cropping2D": {"asymmetric": lambda: chain(IMG, lambda: L().Cropping2D(((1, 2), (0, 3))), conv(2))},
    "GlobalAveragePooling1D": {"flat": lambda: chain(SEQ, lambda: L().Conv1D(4, 3), lambda: L().GlobalAveragePooling1D(), dense(3))},
    "GlobalMaxPooling1D": {"flat": lambda: chain(SEQ, lambda: L().Conv1D(4, 3), lambda: L().GlobalMaxPooling1D(), dense(3))},
    "GlobalMaxPooling2D": {"flat": lambda: chain(IMG, conv(4), lambda: L().GlobalMaxPooling2D(), dense(3)),
                           "keepdims": lambda: chain(IMG, conv(4), lambda: L().GlobalMaxPooling2D(keepdims=True), conv(2, 1))},
    "LayerNormalization": {"channels": lambda: chain(IMG, conv(4), lambda: L().LayerNormalization(epsilon=1e-3)),
                           "vector": lambda: chain((10,), dense(6), lambda: L().LayerNormalization())},
    "LayerScale": {"channels": lambda: chain(IMG, conv(4), lambda: _layer_scale(4))},
    "MaxPooling1D": {"valid_2": lambda: chain(SEQ, lambda: L().MaxPooling1D(2)),
                     "same_3_stride_1": lambda: chain(SEQ, lambda: L().MaxPooling1D(3, strides=1, padding="same"))},
    "Multiply": {"two_convs": lambda: branches(IMG, conv(4), conv(4, 1), lambda: L().Multiply()),
                 "vectors": lambda: branches((10,), dense(4), dense(4), lambda: L().Multiply())},
    "Normalization": {"per_channel": lambda: chain(IMG, lambda: _normalization(), conv(2))},
    "StochasticDepth": {"residual": lambda: _stochastic_depth()},
    "Subtract": {"two_convs": lambda: branches(IMG, conv(4), conv(4, 1), lambda: L().Subtract())},
    "LSTM": {"last": lambda: chain((6, 4), lambda: L().LSTM(5)),
             "sequences": lambda: chain((6, 4), lambda: L().LSTM(5, return_sequences=True), dense(3))},
    "GRU": {"reset_after": lambda: chain((6, 4), lambda: L().GRU(5, return_sequences=True)),
            "reset_before": lambda: chain((6, 4), lambda: L().GRU(5, reset_after=False), dense(3))},
    "SimpleRNN": {"last": lambda: chain((6, 4), lambda: L().SimpleRNN(5))},
    "Embedding": {"token_ids_gru": _tokens_embedded},
    "UpSampling2D": {"nearest_2": lambda: chain(IMG, lambda: L().UpSampling2D(2), conv(2)),
                     "bilinear_2x3": lambda: chain(IMG, lambda: L().UpSampling2D((2, 3), interpolation="bilinear"))},
}


def _data(model, graph) -> np.ndarray:
    """16 random samples; for a recurrent model (the IR holds one step) 16 sequences of the
    model's T steps, token ids where it reads them (an Embedding in front)."""
    rng = np.random.default_rng(0)
    steps = (model.inputs[0].shape[1],) if graph.is_recurrent else ()
    shape = (16, *steps, *graph.input_shape)
    if graph[graph.input].dtype == "int32":
        return rng.integers(0, VOCABULARY, shape).astype(np.float32)
    return rng.uniform(-1, 1, shape).astype(np.float32)


def _params():
    for layer in supported_layers():
        cases = CASES.get(layer) or {None: None}
        for case in cases:
            yield pytest.param(layer, case, id=f"{layer}-{case}")


def test_cases_name_only_supported_layers():
    assert set(CASES) <= set(supported_layers()), sorted(set(CASES) - set(supported_layers()))


@pytest.mark.parametrize("layer, case", list(_params()))
def test_layer_runs_against_keras(layer, case, tmp_path):
    assert case is not None, f"supported Keras layer {layer} has no test case in CASES"
    model = CASES[layer][case]()
    assert layer in {type(op).__name__ for op in model.operations}, f"case {case!r} does not use {layer}"
    path = tmp_path / f"{layer}_{case}.keras"
    model.save(path)
    graph = npukit.load(path)
    x = _data(model, graph)
    want = model.predict(x, verbose=0)
    got = evaluate(graph, x)[graph.output]
    assert got.shape == want.shape
    assert np.max(np.abs(got - want)) <= FLOAT_TOLERANCE, np.max(np.abs(got - want))
