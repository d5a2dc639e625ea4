"""Small .tflite models built with TensorFlow inside the tests, one per NN-API rule."""

from __future__ import annotations

import numpy as np

from npukit.quiet import import_tensorflow, native_output_captured


def _convert(fn, specs, int8: bool = False, per_channel: bool = True, samples=None) -> bytes:
    tf = import_tensorflow()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function(*specs)], fn)
    if int8:
        shapes = [[1 if d is None else d for d in spec.shape] for spec in specs]

        def representative():
            for i in range(20):
                rng = np.random.default_rng(i)
                yield [rng.uniform(-1, 1, shape).astype(np.float32) for shape in shapes]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        if not per_channel:
            converter._experimental_disable_per_channel = True
    with native_output_captured():
        return converter.convert()


def _spec(shape, dtype=None):
    tf = import_tensorflow()
    return tf.TensorSpec(shape, dtype or tf.float32)


def dynamic_batch() -> bytes:
    """A `None` batch: SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE, dynamic tensors."""
    tf = import_tensorflow()
    w = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)

    @tf.function
    def f(x):
        return tf.reshape(tf.matmul(x, w), [tf.shape(x)[0], 3, 1])

    return _convert(f, [_spec([None, 4])])


def bool_cast() -> bytes:
    """GREATER then CAST(bool -> float32)."""
    tf = import_tensorflow()

    @tf.function
    def f(x):
        return tf.cast(x > 0.0, tf.float32) * x

    return _convert(f, [_spec([1, 4])])


def select_v2() -> bytes:
    """tf.where with a broadcast operand: SELECT_V2."""
    tf = import_tensorflow()

    @tf.function
    def f(x, y):
        return tf.where(x > 0.0, x, y)

    return _convert(f, [_spec([1, 4]), _spec([1, 1])])


def greater_equal() -> bytes:
    """A lone GREATER_EQUAL with a bool output (NN-API 1.2, API 29)."""
    tf = import_tensorflow()

    @tf.function
    def f(x, y):
        return tf.math.greater_equal(x, y)

    return _convert(f, [_spec([1, 4]), _spec([1, 4])])


def rank5() -> bytes:
    """A rank-5 intermediate tensor."""
    tf = import_tensorflow()

    @tf.function
    def f(x):
        return tf.reshape(x, [1, 2, 2, 2, 2]) * 2.0

    return _convert(f, [_spec([1, 16])])


def reshape_from_input() -> bytes:
    """RESHAPE whose target shape is a model input, not a constant."""
    tf = import_tensorflow()

    @tf.function
    def f(x, shape):
        return tf.reshape(x, shape)

    return _convert(f, [_spec([1, 4]), _spec([2], tf.int32)])


def int8_conv(per_channel: bool = True) -> bytes:
    """A full-integer int8 CONV_2D + ReLU, per-channel (default) or per-tensor weights."""
    tf = import_tensorflow()
    kernel = np.random.default_rng(1).normal(size=(3, 3, 2, 4)).astype(np.float32)

    @tf.function
    def f(x):
        return tf.nn.relu(tf.nn.conv2d(x, kernel, 1, "SAME") + 0.1)

    return _convert(f, [_spec([1, 6, 6, 2])], int8=True, per_channel=per_channel)
