"""ONNX's own backend node tests (shipped in the onnx wheel) run through npukit's ONNX frontend.

Every node test whose ops are all in npukit's supported set is collected. Each one either
matches the expected outputs at the test's own tolerance (atol at least 1e-6; float tier), or
is listed in EXCLUDED with the reason, and then must be refused by ``npukit.load`` with a
one-line BadInputError / UnsupportedError whose message says that reason (REFUSALS: reason ->
the words npukit's message must contain). A case that starts converting, or is refused for
another reason, fails. docs/onnx.md renders the same list (checked below).

The harness, like onnxruntime's backend runner, feeds the first graph input as the data and
binds the other inputs as constants (npukit models have one data input) and compares the first
graph output (npukit models have one output: a Split or LayerNormalization case is checked on
its first output); cases whose data are not plain tensors (sequences, optionals) are not
collected; models whose opset is above 21 are retargeted to 21 when the checker accepts them.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from onnx.backend.test.case.node import collect_testcases

import npukit
from npukit.converters.onnx import from_onnx_model
from npukit.converters.onnx_ops import supported_ops
from npukit.errors import BadInputError
from npukit.reference import evaluate

EXCLUDED = {  # node test -> why npukit refuses it
    'test_clip_default_int8_min': "integer tensors: npukit's IR computes in float (int8 appears only after quantization)",
    'test_maxpool_2d_uint8': "integer tensors: npukit's IR computes in float (int8 appears only after quantization)",
    'test_reduce_max_bool_inputs': "integer tensors: npukit's IR computes in float (int8 appears only after quantization)",
    'test_add': 'the second operand is a graph input bound as a constant, and it varies along the batch axis',
    'test_add_int16': "integer tensors: npukit's IR computes in float (int8 appears only after quantization)",
    'test_add_int8': "integer tensors: npukit's IR computes in float (int8 appears only after quantization)",
    'test_add_uint16': "integer tensors: npukit's IR computes in float (int8 appears only after quantization)",
    'test_add_uint32': "integer tensors: npukit's IR computes in float (int8 appears only after quantization)",
    'test_add_uint64': "integer tensors: npukit's IR computes in float (int8 appears only after quantization)",
    'test_add_uint8': "integer tensors: npukit's IR computes in float (int8 appears only after quantization)",
    'test_averagepool_1d_default': '1-D or 3-D pooling',
    'test_averagepool_2d_ceil_last_window_starts_on_pad': "ceil_mode with count_include_pad: TFLite's AVERAGE_POOL_2D divides by the in-bounds count only",
    'test_averagepool_2d_dilations': 'dilated pooling',
    'test_averagepool_3d_default': '1-D or 3-D pooling',
    'test_averagepool_3d_dilations_large_count_include_pad_is_0_ceil_mode_is_False': '1-D or 3-D pooling',
    'test_averagepool_3d_dilations_large_count_include_pad_is_0_ceil_mode_is_True': '1-D or 3-D pooling',
    'test_averagepool_3d_dilations_large_count_include_pad_is_1_ceil_mode_is_False': '1-D or 3-D pooling',
    'test_averagepool_3d_dilations_large_count_include_pad_is_1_ceil_mode_is_True': '1-D or 3-D pooling',
    'test_averagepool_3d_dilations_small': '1-D or 3-D pooling',
    'test_batchnorm_epsilon_training_mode': 'a second node output (Dropout mask, MaxPool indices) or training-mode BatchNormalization',
    'test_batchnorm_example_training_mode': 'a second node output (Dropout mask, MaxPool indices) or training-mode BatchNormalization',
    'test_causal_conv_with_state_decode_step_expanded': 'Concat of a graph input bound as a constant with a tensor',
    'test_causal_conv_with_state_with_bias_and_past_state_expanded': 'Concat of a graph input bound as a constant with a tensor',
    'test_causal_conv_with_state_with_past_state_expanded': 'Concat of a graph input bound as a constant with a tensor',
    'test_clip': 'Clip with min ≠ 0: only the clipped ReLU (min 0) maps onto a delegable op',
    'test_clip_default_inbounds': "a rank-1 input: npukit's first axis is the batch, samples need another axis",
    'test_clip_default_int8_inbounds': "integer tensors: npukit's IR computes in float (int8 appears only after quantization)",
    'test_clip_default_int8_max': "integer tensors: npukit's IR computes in float (int8 appears only after quantization)",
    'test_clip_default_max': 'Clip with min ≠ 0: only the clipped ReLU (min 0) maps onto a delegable op',
    'test_clip_example': "a rank-1 input: npukit's first axis is the batch, samples need another axis",
    'test_clip_inbounds': "a rank-1 input: npukit's first axis is the batch, samples need another axis",
    'test_clip_min_greater_than_max': "a rank-1 input: npukit's first axis is the batch, samples need another axis",
    'test_clip_outbounds': "a rank-1 input: npukit's first axis is the batch, samples need another axis",
    'test_clip_splitbounds': "a rank-1 input: npukit's first axis is the batch, samples need another axis",
    'test_concat_1d_axis_0': "a rank-1 input: npukit's first axis is the batch, samples need another axis",
    'test_concat_1d_axis_negative_1': "a rank-1 input: npukit's first axis is the batch, samples need another axis",
    'test_concat_2d_axis_0': 'concatenation of inputs bound as constants (the harness binds all inputs but the first)',
    'test_concat_2d_axis_1': 'concatenation of inputs bound as constants (the harness binds all inputs but the first)',
    'test_concat_2d_axis_negative_1': 'concatenation of inputs bound as constants (the harness binds all inputs but the first)',
    'test_concat_2d_axis_negative_2': 'concatenation of inputs bound as constants (the harness binds all inputs but the first)',
    'test_concat_3d_axis_0': 'concatenation of inputs bound as constants (the harness binds all inputs but the first)',
    'test_concat_3d_axis_1': 'concatenation of inputs bound as constants (the harness binds all inputs but the first)',
    'test_concat_3d_axis_2': 'concatenation of inputs bound as constants (the harness binds all inputs but the first)',
    'test_concat_3d_axis_negative_1': 'concatenation of inputs bound as constants (the harness binds all inputs but the first)',
    'test_concat_3d_axis_negative_2': 'concatenation of inputs bound as constants (the harness binds all inputs but the first)',
    'test_concat_3d_axis_negative_3': 'concatenation of inputs bound as constants (the harness binds all inputs but the first)',
    'test_div': 'the second operand is a graph input bound as a constant, and it varies along the batch axis',
    'test_div_example': "a rank-1 input: npukit's first axis is the batch, samples need another axis",
    'test_div_int16': "integer tensors: npukit's IR computes in float (int8 appears only after quantization)",
    'test_div_int32_trunc': "integer tensors: npukit's IR computes in float (int8 appears only after quantization)",
    'test_div_int8': "integer tensors: npukit's IR computes in float (int8 appears only after quantization)",
    'test_div_uint16': "integer tensors: npukit's IR computes in float (int8 appears only after quantization)",
    'test_div_uint32': "integer tensors: npukit's IR computes in float (int8 appears only after quantization)",
    'test_div_uint64': "integer tensors: npukit's IR computes in float (int8 appears only after quantization)",
    'test_div_uint8': "integer tensors: npukit's IR computes in float (int8 appears only after quantization)",
    'test_dropout_default_mask': 'a second node output (Dropout mask, MaxPool indices) or training-mode BatchNormalization',
    'test_dropout_default_mask_ratio': 'a second node output (Dropout mask, MaxPool indices) or training-mode BatchNormalization',
    'test_dropout_default_old': 'opset below 13',
    'test_dropout_random_old': 'opset below 13',
    'test_edge_pad': "integer tensors: npukit's IR computes in float (int8 appears only after quantization)",
    'test_flatten_axis0': 'Flatten axis 0 with a batch of 2 merges samples',
    'test_flatten_axis2': 'Flatten axis >= 2 keeps part of a sample in the batch axis',
    'test_flatten_axis3': 'Flatten axis >= 2 keeps part of a sample in the batch axis',
    'test_flatten_negative_axis1': 'Flatten axis >= 2 keeps part of a sample in the batch axis',
    'test_flatten_negative_axis2': 'Flatten axis >= 2 keeps part of a sample in the batch axis',
    'test_flatten_negative_axis4': 'Flatten axis 0 with a batch of 2 merges samples',
    'test_gather_0': 'Gather of a tensor: npukit folds Gather of constants (shape arithmetic) only',
    'test_gather_1': 'Gather of a tensor: npukit folds Gather of constants (shape arithmetic) only',
    'test_gather_2d_indices': 'Gather of a tensor: npukit folds Gather of constants (shape arithmetic) only',
    'test_gather_negative_indices': "a rank-1 input: npukit's first axis is the batch, samples need another axis",
    'test_gelu_default_1': "a rank-1 input: npukit's first axis is the batch, samples need another axis",
    'test_gelu_tanh_1': "a rank-1 input: npukit's first axis is the batch, samples need another axis",
    'test_gemm_all_attributes': 'Gemm transA = 1 (the input is not (N, K))',
    'test_gemm_default_matrix_bias': 'Gemm bias C that differs per row (per sample)',
    'test_gemm_transposeA': 'Gemm transA = 1 (the input is not (N, K))',
    'test_hardsigmoid_example': "a rank-1 input: npukit's first axis is the batch, samples need another axis",
    'test_layer_normalization_2d_axis0': 'LayerNormalization over more than the last axis, or over W of an NCHW map',
    'test_layer_normalization_2d_axis_negative_2': 'LayerNormalization over more than the last axis, or over W of an NCHW map',
    'test_layer_normalization_3d_axis0_epsilon': 'LayerNormalization over more than the last axis, or over W of an NCHW map',
    'test_layer_normalization_3d_axis1_epsilon': 'LayerNormalization over more than the last axis, or over W of an NCHW map',
    'test_layer_normalization_3d_axis_negative_2_epsilon': 'LayerNormalization over more than the last axis, or over W of an NCHW map',
    'test_layer_normalization_3d_axis_negative_3_epsilon': 'LayerNormalization over more than the last axis, or over W of an NCHW map',
    'test_layer_normalization_4d_axis0': 'LayerNormalization over more than the last axis, or over W of an NCHW map',
    'test_layer_normalization_4d_axis1': 'LayerNormalization over more than the last axis, or over W of an NCHW map',
    'test_layer_normalization_4d_axis2': 'LayerNormalization over more than the last axis, or over W of an NCHW map',
    'test_layer_normalization_4d_axis3': 'LayerNormalization over more than the last axis, or over W of an NCHW map',
    'test_layer_normalization_4d_axis_negative_1': 'LayerNormalization over more than the last axis, or over W of an NCHW map',
    'test_layer_normalization_4d_axis_negative_2': 'LayerNormalization over more than the last axis, or over W of an NCHW map',
    'test_layer_normalization_4d_axis_negative_3': 'LayerNormalization over more than the last axis, or over W of an NCHW map',
    'test_layer_normalization_4d_axis_negative_4': 'LayerNormalization over more than the last axis, or over W of an NCHW map',
    'test_layer_normalization_default_axis': 'LayerNormalization over more than the last axis, or over W of an NCHW map',
    'test_leakyrelu_example': "a rank-1 input: npukit's first axis is the batch, samples need another axis",
    'test_matmul_1d_1d': "a rank-1 input: npukit's first axis is the batch, samples need another axis",
    'test_matmul_1d_3d': "a rank-1 input: npukit's first axis is the batch, samples need another axis",
    'test_matmul_3d': 'batched MatMul (a constant right operand of rank > 2)',
    'test_matmul_4d': 'batched MatMul (a constant right operand of rank > 2)',
    'test_matmul_4d_1d': 'batched MatMul (a constant right operand of rank > 2)',
    'test_matmul_bcast': 'batched MatMul (a constant right operand of rank > 2)',
    'test_maxpool_1d_default': '1-D or 3-D pooling',
    'test_maxpool_2d_dilations': 'dilated pooling',
    'test_maxpool_2d_pads': "MaxPool padding other than 'same' on a possibly negative input (zero padding would not be exact)",
    'test_maxpool_2d_same_lower': "MaxPool padding other than 'same' on a possibly negative input (zero padding would not be exact)",
    'test_maxpool_3d_default': '1-D or 3-D pooling',
    'test_maxpool_3d_dilations': '1-D or 3-D pooling',
    'test_maxpool_3d_dilations_use_ref_impl': '1-D or 3-D pooling',
    'test_maxpool_3d_dilations_use_ref_impl_large': '1-D or 3-D pooling',
    'test_maxpool_with_argmax_2d_precomputed_pads': 'a second node output (Dropout mask, MaxPool indices) or training-mode BatchNormalization',
    'test_maxpool_with_argmax_2d_precomputed_strides': 'a second node output (Dropout mask, MaxPool indices) or training-mode BatchNormalization',
    'test_mul': 'the second operand is a graph input bound as a constant, and it varies along the batch axis',
    'test_mul_example': "a rank-1 input: npukit's first axis is the batch, samples need another axis",
    'test_mul_int16': "integer tensors: npukit's IR computes in float (int8 appears only after quantization)",
    'test_mul_int8': "integer tensors: npukit's IR computes in float (int8 appears only after quantization)",
    'test_mul_uint16': "integer tensors: npukit's IR computes in float (int8 appears only after quantization)",
    'test_mul_uint32': "integer tensors: npukit's IR computes in float (int8 appears only after quantization)",
    'test_mul_uint64': "integer tensors: npukit's IR computes in float (int8 appears only after quantization)",
    'test_mul_uint8': "integer tensors: npukit's IR computes in float (int8 appears only after quantization)",
    'test_reduce_max_default_axes_keepdim_example': 'no axes: reduces every axis, the batch included',
    'test_reduce_max_default_axes_keepdims_random': 'no axes: reduces every axis, the batch included',
    'test_reduce_max_empty_set': 'an empty (zero-size) input',
    'test_reduce_max_empty_set_bool': "integer tensors: npukit's IR computes in float (int8 appears only after quantization)",
    'test_reduce_mean_default_axes_keepdims_example': 'no axes: reduces every axis, the batch included',
    'test_reduce_mean_default_axes_keepdims_random': 'no axes: reduces every axis, the batch included',
    'test_reduce_sum_default_axes_keepdims_example': 'no axes: reduces every axis, the batch included',
    'test_reduce_sum_default_axes_keepdims_random': 'no axes: reduces every axis, the batch included',
    'test_reduce_sum_empty_set': 'an empty (zero-size) input',
    'test_reduce_sum_empty_set_non_reduced_axis_zero': 'an empty (zero-size) input',
    'test_reduce_sum_square_default_axes_keepdims_example_expanded': 'no axes: reduces every axis, the batch included',
    'test_reduce_sum_square_default_axes_keepdims_random_expanded': 'no axes: reduces every axis, the batch included',
    'test_reduce_sum_square_empty_set_expanded': 'an empty (zero-size) input',
    'test_reflect_pad': "integer tensors: npukit's IR computes in float (int8 appears only after quantization)",
    'test_reshape_allowzero_reordered': 'an empty (zero-size) input',
    'test_reshape_extended_dims': 'Reshape across the batch axis',
    'test_reshape_negative_dim': 'Reshape across the batch axis',
    'test_reshape_negative_extended_dims': 'Reshape across the batch axis',
    'test_reshape_one_dim': 'Reshape across the batch axis',
    'test_reshape_reduced_dims': 'Reshape across the batch axis',
    'test_reshape_reordered_all_dims': 'Reshape across the batch axis',
    'test_reshape_reordered_last_dims': 'Reshape across the batch axis',
    'test_reshape_zero_and_negative_dim': 'Reshape across the batch axis',
    'test_reshape_zero_dim': 'Reshape across the batch axis',
    'test_resize_downsample_scales_cubic': 'Resize by scales that do not give whole sizes: ONNX then maps with the scale, TFLite with the sizes',
    'test_resize_downsample_scales_cubic_A_n0p5_exclude_outside': 'Resize with antialias, exclude_outside or axes',
    'test_resize_downsample_scales_cubic_align_corners': 'Resize by scales that do not give whole sizes: ONNX then maps with the scale, TFLite with the sizes',
    'test_resize_downsample_scales_cubic_antialias': 'Resize with antialias, exclude_outside or axes',
    'test_resize_downsample_scales_linear': 'Resize by scales that do not give whole sizes: ONNX then maps with the scale, TFLite with the sizes',
    'test_resize_downsample_scales_linear_align_corners': 'Resize by scales that do not give whole sizes: ONNX then maps with the scale, TFLite with the sizes',
    'test_resize_downsample_scales_linear_antialias': 'Resize with antialias, exclude_outside or axes',
    'test_resize_downsample_scales_linear_half_pixel_symmetric': 'Resize by scales that do not give whole sizes: ONNX then maps with the scale, TFLite with the sizes',
    'test_resize_downsample_scales_nearest': 'Resize by scales that do not give whole sizes: ONNX then maps with the scale, TFLite with the sizes',
    'test_resize_downsample_sizes_cubic': 'cubic Resize: TFLite has nearest and bilinear only',
    'test_resize_downsample_sizes_cubic_antialias': 'Resize with antialias, exclude_outside or axes',
    'test_resize_downsample_sizes_linear_antialias': 'Resize with antialias, exclude_outside or axes',
    'test_resize_downsample_sizes_linear_pytorch_half_pixel': 'pytorch_half_pixel with an output size of 1',
    'test_resize_downsample_sizes_nearest': "nearest Resize rounding other than floor (asymmetric) / round_prefer_ceil (centred): TFLite's two rules",
    'test_resize_downsample_sizes_nearest_not_larger': 'Resize with antialias, exclude_outside or axes',
    'test_resize_downsample_sizes_nearest_not_smaller': 'Resize with antialias, exclude_outside or axes',
    'test_resize_tf_crop_and_resize': 'tf_crop_and_resize Resize',
    'test_resize_tf_crop_and_resize_axes_2_3': 'Resize with antialias, exclude_outside or axes',
    'test_resize_tf_crop_and_resize_axes_3_2': 'Resize with antialias, exclude_outside or axes',
    'test_resize_tf_crop_and_resize_extrapolation_value': 'tf_crop_and_resize Resize',
    'test_resize_upsample_scales_cubic': 'cubic Resize: TFLite has nearest and bilinear only',
    'test_resize_upsample_scales_cubic_A_n0p5_exclude_outside': 'Resize with antialias, exclude_outside or axes',
    'test_resize_upsample_scales_cubic_align_corners': 'cubic Resize: TFLite has nearest and bilinear only',
    'test_resize_upsample_scales_cubic_asymmetric': 'cubic Resize: TFLite has nearest and bilinear only',
    'test_resize_upsample_scales_linear_half_pixel_symmetric': 'Resize by scales that do not give whole sizes: ONNX then maps with the scale, TFLite with the sizes',
    'test_resize_upsample_scales_nearest': "nearest Resize rounding other than floor (asymmetric) / round_prefer_ceil (centred): TFLite's two rules",
    'test_resize_upsample_scales_nearest_axes_2_3': 'Resize with antialias, exclude_outside or axes',
    'test_resize_upsample_scales_nearest_axes_3_2': 'Resize with antialias, exclude_outside or axes',
    'test_resize_upsample_sizes_cubic': 'cubic Resize: TFLite has nearest and bilinear only',
    'test_resize_upsample_sizes_nearest': "nearest Resize rounding other than floor (asymmetric) / round_prefer_ceil (centred): TFLite's two rules",
    'test_resize_upsample_sizes_nearest_axes_2_3': 'Resize with antialias, exclude_outside or axes',
    'test_resize_upsample_sizes_nearest_axes_3_2': 'Resize with antialias, exclude_outside or axes',
    'test_resize_upsample_sizes_nearest_ceil_half_pixel': "nearest Resize rounding other than floor (asymmetric) / round_prefer_ceil (centred): TFLite's two rules",
    'test_resize_upsample_sizes_nearest_floor_align_corners': "nearest Resize rounding other than floor (asymmetric) / round_prefer_ceil (centred): TFLite's two rules",
    'test_resize_upsample_sizes_nearest_not_larger': 'Resize with antialias, exclude_outside or axes',
    'test_resize_upsample_sizes_nearest_not_smaller': 'Resize with antialias, exclude_outside or axes',
    'test_resize_upsample_sizes_nearest_round_prefer_ceil_asymmetric': "nearest Resize rounding other than floor (asymmetric) / round_prefer_ceil (centred): TFLite's two rules",
    'test_rotary_embedding_3d_input_expanded': 'Split into empty parts',
    'test_rotary_embedding_expanded': 'Split into empty parts',
    'test_rotary_embedding_interleaved_expanded': 'Split into empty parts',
    'test_rotary_embedding_no_position_ids_expanded': 'Split into empty parts',
    'test_rotary_embedding_no_position_ids_interleaved_expanded': 'Split into empty parts',
    'test_rotary_embedding_no_position_ids_rotary_dim_expanded': 'a constant that varies along the batch axis',
    'test_rotary_embedding_with_interleaved_rotary_dim_expanded': 'a constant that varies along the batch axis',
    'test_rotary_embedding_with_rotary_dim_expanded': 'a constant that varies along the batch axis',
    'test_shape': 'the output is a constant (Shape of a static shape): no tensor computation to convert',
    'test_shape_clip_end': 'the output is a constant (Shape of a static shape): no tensor computation to convert',
    'test_shape_clip_start': 'the output is a constant (Shape of a static shape): no tensor computation to convert',
    'test_shape_end_1': 'the output is a constant (Shape of a static shape): no tensor computation to convert',
    'test_shape_end_negative_1': 'the output is a constant (Shape of a static shape): no tensor computation to convert',
    'test_shape_example': 'the output is a constant (Shape of a static shape): no tensor computation to convert',
    'test_shape_start_1': 'the output is a constant (Shape of a static shape): no tensor computation to convert',
    'test_shape_start_1_end_2': 'the output is a constant (Shape of a static shape): no tensor computation to convert',
    'test_shape_start_1_end_negative_1': 'the output is a constant (Shape of a static shape): no tensor computation to convert',
    'test_shape_start_greater_than_end': 'the output is a constant (Shape of a static shape): no tensor computation to convert',
    'test_shape_start_negative_1': 'the output is a constant (Shape of a static shape): no tensor computation to convert',
    'test_sigmoid_example': "a rank-1 input: npukit's first axis is the batch, samples need another axis",
    'test_slice': 'an operation along the batch axis',
    'test_slice_neg_steps': 'Slice with negative steps',
    'test_slice_start_out_of_bounds': 'an empty Slice',
    'test_softmax_axis_0': 'Softmax over an axis other than the last',
    'test_softmax_axis_1': 'Softmax over an axis other than the last',
    'test_spacetodepth_expanded': 'a Reshape that moves the batch axis',
    'test_split_1d_uneven_split_opset18': "a rank-1 input: npukit's first axis is the batch, samples need another axis",
    'test_split_equal_parts_1d_opset13': "a rank-1 input: npukit's first axis is the batch, samples need another axis",
    'test_split_equal_parts_1d_opset18': "a rank-1 input: npukit's first axis is the batch, samples need another axis",
    'test_split_equal_parts_default_axis_opset13': "a rank-1 input: npukit's first axis is the batch, samples need another axis",
    'test_split_equal_parts_default_axis_opset18': "a rank-1 input: npukit's first axis is the batch, samples need another axis",
    'test_split_variable_parts_1d_opset13': "a rank-1 input: npukit's first axis is the batch, samples need another axis",
    'test_split_variable_parts_1d_opset18': "a rank-1 input: npukit's first axis is the batch, samples need another axis",
    'test_split_variable_parts_default_axis_opset13': "a rank-1 input: npukit's first axis is the batch, samples need another axis",
    'test_split_variable_parts_default_axis_opset18': "a rank-1 input: npukit's first axis is the batch, samples need another axis",
    'test_split_zero_size_splits_opset13': 'an empty (zero-size) input',
    'test_split_zero_size_splits_opset18': 'an empty (zero-size) input',
    'test_squeeze': 'an operation along the batch axis',
    'test_sub': 'the second operand is a graph input bound as a constant, and it varies along the batch axis',
    'test_sub_example': "a rank-1 input: npukit's first axis is the batch, samples need another axis",
    'test_sub_int16': "integer tensors: npukit's IR computes in float (int8 appears only after quantization)",
    'test_sub_int8': "integer tensors: npukit's IR computes in float (int8 appears only after quantization)",
    'test_sub_uint16': "integer tensors: npukit's IR computes in float (int8 appears only after quantization)",
    'test_sub_uint32': "integer tensors: npukit's IR computes in float (int8 appears only after quantization)",
    'test_sub_uint64': "integer tensors: npukit's IR computes in float (int8 appears only after quantization)",
    'test_sub_uint8': "integer tensors: npukit's IR computes in float (int8 appears only after quantization)",
    'test_training_dropout': 'training-mode Dropout',
    'test_training_dropout_default': 'training-mode Dropout',
    'test_training_dropout_default_mask': 'a second node output (Dropout mask, MaxPool indices) or training-mode BatchNormalization',
    'test_training_dropout_mask': 'a second node output (Dropout mask, MaxPool indices) or training-mode BatchNormalization',
    'test_training_dropout_zero_ratio': 'training-mode Dropout',
    'test_training_dropout_zero_ratio_mask': 'a second node output (Dropout mask, MaxPool indices) or training-mode BatchNormalization',
    'test_transpose_all_permutations_2': 'a Transpose that moves the batch axis',
    'test_transpose_all_permutations_3': 'a Transpose that moves the batch axis',
    'test_transpose_all_permutations_4': 'a Transpose that moves the batch axis',
    'test_transpose_all_permutations_5': 'a Transpose that moves the batch axis',
    'test_transpose_default': 'a Transpose that moves the batch axis',
    'test_unsqueeze_axis_0': 'an operation along the batch axis',
    'test_wrap_pad': "integer tensors: npukit's IR computes in float (int8 appears only after quantization)",
    'test_gru_batchwise': "the output keeps an LSTM / GRU node's direction axis: npukit reads and returns sequences batch-first, (N, T, F)",
    'test_gru_defaults': "the output keeps an LSTM / GRU node's direction axis: npukit reads and returns sequences batch-first, (N, T, F)",
    'test_gru_seq_length': "the output keeps an LSTM / GRU node's direction axis: npukit reads and returns sequences batch-first, (N, T, F)",
    'test_gru_with_initial_bias': "the output keeps an LSTM / GRU node's direction axis: npukit reads and returns sequences batch-first, (N, T, F)",
    'test_lstm_batchwise': "the output keeps an LSTM / GRU node's direction axis: npukit reads and returns sequences batch-first, (N, T, F)",
    'test_lstm_defaults': "the output keeps an LSTM / GRU node's direction axis: npukit reads and returns sequences batch-first, (N, T, F)",
    'test_lstm_with_initial_bias': "the output keeps an LSTM / GRU node's direction axis: npukit reads and returns sequences batch-first, (N, T, F)",
    'test_gru_bidirectional': 'a reverse or bidirectional LSTM / GRU: npukit runs a recurrent model forward, one step at a time',
    'test_gru_reverse': 'a reverse or bidirectional LSTM / GRU: npukit runs a recurrent model forward, one step at a time',
    'test_lstm_bidirectional': 'a reverse or bidirectional LSTM / GRU: npukit runs a recurrent model forward, one step at a time',
    'test_lstm_reverse': 'a reverse or bidirectional LSTM / GRU: npukit runs a recurrent model forward, one step at a time',
    'test_lstm_with_peepholes': 'LSTM sequence_lens (per-sample sequence lengths)',
    'test_expand_dim_changed': "Expand of a tensor: npukit folds Expand of constants only (an RNN's zero initial state)",
    'test_expand_dim_unchanged': "Expand of a tensor: npukit folds Expand of constants only (an RNN's zero initial state)",
}

#: reason -> what npukit's one-line error must say (a regex over the message)
REFUSALS = {
    "integer tensors: npukit's IR computes in float (int8 appears only after quantization)":
        "input '\\w+' holds (U?INT(8|16|32|64)|BOOL) values; integer and bool tensors are not supported \\(npukit's IR computes in float",
    "a rank-1 input: npukit's first axis is the batch, samples need another axis":
        "input '\\w+' has rank 1; npukit's first axis is the batch",
    '1-D or 3-D pooling':
        '(Average|Max)Pool node .*: only 2-D pooling is supported',
    'concatenation of inputs bound as constants (the harness binds all inputs but the first)':
        'Concat node .*: a constant input where a tensor is expected',
    'Reshape across the batch axis':
        "Reshape node .*: the first entry of the target shape .* must be the batch|Reshape 'reshaped' cannot turn \\(3, 4\\) into \\[2, 3, 4\\]",
    'the second operand is a graph input bound as a constant, and it varies along the batch axis':
        '(Add|Sub|Mul|Div) node .*: a constant of shape \\(3, 4, 5\\) varies along the batch axis',
    'Flatten axis >= 2 keeps part of a sample in the batch axis':
        'Flatten node .*: axis [23] keeps part of the sample outside the batch',
    'batched MatMul (a constant right operand of rank > 2)':
        'MatMul node .*: the right operand must be a 2-D constant \\(received \\(',
    'training-mode Dropout':
        'Dropout node .*: training_mode = true is not supported',
    'dilated pooling':
        '(Average|Max)Pool node .*: dilated pooling is not supported',
    'Clip with min ≠ 0: only the clipped ReLU (min 0) maps onto a delegable op':
        'Clip node .*: Clip\\(-\\S+, \\S+\\) is supported with min 0 only',
    'opset below 13':
        'opset (\\d|1[0-2]) is not supported \\(npukit reads opsets 13 to 21',
    'Flatten axis 0 with a batch of 2 merges samples':
        'Flatten node .*: axis 0 merges the batch of 2 samples into one row',
    'Gemm transA = 1 (the input is not (N, K))':
        'Gemm node .*: transA = 1 is not supported',
    "MaxPool padding other than 'same' on a possibly negative input (zero padding would not be exact)":
        'MaxPool node .*: padding \\([\\d, ]+\\) on a possibly negative input',
    'Softmax over an axis other than the last':
        'Softmax node .*: softmax over axis [01] of a rank-3 tensor: only the last axis',
    "ceil_mode with count_include_pad: TFLite's AVERAGE_POOL_2D divides by the in-bounds count only":
        'AveragePool node .*: ceil_mode with count_include_pad is not supported',
    'Gemm bias C that differs per row (per sample)':
        'Gemm node .*: C of shape \\(3, 4\\) must broadcast over rows',
    'a second node output (Dropout mask, MaxPool indices) or training-mode BatchNormalization':
        'BatchNormalization node .*: training_mode = 1 is not supported|Dropout node .*: the mask output is not supported|MaxPool node .*: the Indices output is not supported',
    'Concat of a graph input bound as a constant with a tensor':
        'Concat node .*: a constant input where a tensor is expected',
    'Gather of a tensor: npukit folds Gather of constants (shape arithmetic) only':
        'Gather node .*: Gather is supported on constants only \\(shape arithmetic\\)',
    'LayerNormalization over more than the last axis, or over W of an NCHW map':
        'LayerNormalization node .*: normalization (from|over) axis',
    'no axes: reduces every axis, the batch included':
        'Reduce\\w+ node .*: no axes: reducing every axis, the batch included, is not supported',
    'an empty (zero-size) input':
        'the input shape \\([\\d, ]+\\) has a dimension of size 0 or less',
    'Resize by scales that do not give whole sizes: ONNX then maps with the scale, TFLite with the sizes':
        'Resize node .*: scales \\[.*\\] do not give whole output sizes',
    'Resize with antialias, exclude_outside or axes':
        'Resize node .*: antialias, exclude_outside and axes are not supported',
    'cubic Resize: TFLite has nearest and bilinear only':
        "Resize node .*: mode 'cubic' with",
    'pytorch_half_pixel with an output size of 1':
        "Resize node .*: mode 'linear' with coordinate_transformation_mode 'pytorch_half_pixel'",
    "nearest Resize rounding other than floor (asymmetric) / round_prefer_ceil (centred): TFLite's two rules":
        "Resize node .*: mode 'nearest' with coordinate_transformation_mode '\\w+' and nearest_mode '\\w+' is not supported",
    'tf_crop_and_resize Resize':
        "Resize node .*: coordinate_transformation_mode 'tf_crop_and_resize'|Resize node .*with coordinate_transformation_mode 'tf_crop_and_resize'",
    'Split into empty parts':
        'Split node .*: split sizes \\[[\\d, ]+\\] do not cut axis',
    'a constant that varies along the batch axis':
        '(Add|Sub|Mul|Div) node .*: a constant of shape \\([\\d, ]+\\) varies along the batch axis',
    'the output is a constant (Shape of a static shape): no tensor computation to convert':
        'the graph output is a constant or is not produced',
    'an operation along the batch axis':
        '(Slice|Squeeze|Unsqueeze) node .*: (an operation along the batch axis|squeezing the batch axis|a new batch axis) is not supported',
    'Slice with negative steps':
        'Slice node .*: step -\\d+: only positive steps are supported',
    'an empty Slice':
        'Slice node .*: an empty slice',
    'a Reshape that moves the batch axis':
        'Reshape node .*: the first entry of the target shape .* must be the batch',
    'a Transpose that moves the batch axis':
        'Transpose node .*: perm \\[[\\d, ]+\\] moves the batch axis',
    "the output keeps an LSTM / GRU node's direction axis: npukit reads and returns sequences batch-first, (N, T, F)":
        'the graph output keeps the direction axis of a recurrent node',
    'a reverse or bidirectional LSTM / GRU: npukit runs a recurrent model forward, one step at a time':
        "(LSTM|GRU) node .*: direction '(reverse|bidirectional)' is not supported",
    'LSTM sequence_lens (per-sample sequence lengths)':
        'LSTM node .*: sequence_lens is not supported',
    "Expand of a tensor: npukit folds Expand of constants only (an RNN's zero initial state)":
        'Expand node .*: Expand is supported on constants only',
}

_OPS = set(supported_ops())


def _cases():
    cases = {}
    with np.errstate(all="ignore"):  # some of onnx's case generators divide by zero on import
        collected = collect_testcases("")
    for case in collected:
        types = {n.op_type for n in case.model.graph.node}
        plain = case.data_sets and all(isinstance(a, (np.ndarray, np.generic)) and np.asarray(a).dtype != object
                                       for a in case.data_sets[0][0])
        if plain and types <= _OPS and types - {"Constant", "Identity"}:  # tensors only (no sequences, optionals)
            cases[case.name] = case
    return cases


CASES = _cases()


def _prepare(case):
    """The model retargeted to opset 21 with inputs 2.. bound as constants, and the data."""
    model = onnx.ModelProto()
    model.CopyFrom(case.model)
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx") and imp.version > 21:
            imp.version = 21
    inputs, outputs = case.data_sets[0]
    for info, array in list(zip(model.graph.input, inputs))[1:]:
        model.graph.initializer.append(numpy_helper.from_array(np.asarray(array), info.name))
    del model.graph.output[1:]  # npukit models have one output: the first is compared
    return model, np.asarray(inputs[0]), np.asarray(outputs[0])


def _run(case):
    model, x, _ = _prepare(case)
    onnx.checker.check_model(model)
    graph = from_onnx_model(model, tuple(x.shape), case.name)
    return evaluate(graph, x)[graph.output]


def test_collection_covers_the_supported_ops():
    covered = {n.op_type for case in CASES.values() for n in case.model.graph.node}
    assert len(CASES) >= 350
    assert {"Conv", "Gemm", "MaxPool", "AveragePool", "Relu", "Softmax", "Concat", "Reshape"} <= covered
    assert sum(name not in EXCLUDED for name in CASES) >= 125


def test_every_exclusion_names_a_collected_case_and_a_known_refusal():
    assert set(EXCLUDED) <= set(CASES), sorted(set(EXCLUDED) - set(CASES))
    assert set(EXCLUDED.values()) == set(REFUSALS), set(EXCLUDED.values()) ^ set(REFUSALS)


@pytest.mark.parametrize("name", sorted(n for n in CASES if n not in EXCLUDED))
def test_node_case_matches(name):
    case = CASES[name]
    _, _, expected = _prepare(case)
    got = _run(case)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=case.rtol, atol=max(case.atol, 1e-6))


@pytest.mark.parametrize("name", sorted(n for n in CASES if n in EXCLUDED))
def test_excluded_case_is_refused(name, tmp_path):
    """The case, saved as an .onnx file, is refused by ``npukit.load`` in one line that gives
    the table's reason; the model itself is valid ONNX, so the refusal is npukit's."""
    model, x, _ = _prepare(CASES[name])
    onnx.checker.check_model(model)
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, str(path))
    with pytest.raises(BadInputError) as info:
        npukit.load(path, input_shape=tuple(x.shape))
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    assert re.search(REFUSALS[EXCLUDED[name]], message), message


def render_exclusions() -> str:
    """The docs/onnx.md table: reasons by number of cases (ties in table order), test names
    without their ``test_`` prefix."""
    by_reason: dict[str, list[str]] = {}
    for name, reason in EXCLUDED.items():
        by_reason.setdefault(reason, []).append(name.removeprefix("test_"))
    rows = sorted(by_reason.items(), key=lambda item: -len(item[1]))
    lines = [
        f"{len(CASES)} node tests use only supported ops: {len(CASES) - len(EXCLUDED)} pass, "
        f"{len(EXCLUDED)} are excluded and refused:",
        "",
        "| reason | tests |",
        "| --- | --- |",
    ]
    lines += [f"| {reason} | {len(names)}: {', '.join(f'`{n}`' for n in names)} |" for reason, names in rows]
    return "\n".join(lines)


def test_docs_list_the_exclusions():
    docs = Path(__file__).resolve().parent.parent / "docs" / "onnx.md"
    if not docs.exists():
        pytest.skip("docs/ is not part of this installation")
    assert render_exclusions() in docs.read_text()
