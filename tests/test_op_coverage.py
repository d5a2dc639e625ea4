"""Every IR node type is complete: a float reference (npukit.ops), a TFLite lowering or a
documented refusal (converters/tflite_lowering.NOT_LOWERED), and a place in the spiking
runtime's groupings (AFFINE, ANALOG_ONLY, ReLU / MaxPool2D, or a neuron). Generated from the
registries, so a new node type that misses one fails here. Neurons and Delay hold state from
step to step: the simulators and the temporal backend carry them (tests/test_snn.py,
tests/test_recurrent.py), not these per-node registries."""

from __future__ import annotations

import pytest

from npukit import ir
from npukit.converters import tflite_lowering
from npukit.ops import _OPS

RATE_CODED = sorted(name for name, cls in ir.NODE_TYPES.items() if not issubclass(cls, (ir.Input, ir.Delay, *ir.NEURONS)))


@pytest.mark.parametrize("name", RATE_CODED)
def test_node_type_has_a_float_reference(name):
    assert ir.NODE_TYPES[name] in _OPS, f"{name}: add @implements({name}) to npukit/ops.py"


@pytest.mark.parametrize("name", RATE_CODED)
def test_node_type_has_a_lowering_or_a_documented_refusal(name):
    lowered = ir.NODE_TYPES[name] in tflite_lowering._LOWER
    refused = name in tflite_lowering.NOT_LOWERED
    assert lowered != refused, f"{name}: add @lower({name}) to converters/tflite_lowering.py, or its reason to NOT_LOWERED"


@pytest.mark.parametrize("name", RATE_CODED)
def test_node_type_has_a_spiking_rule(name):
    cls = ir.NODE_TYPES[name]
    spiking = issubclass(cls, (ir.ReLU, ir.MaxPool2D)) or issubclass(cls, ir.AFFINE)
    assert spiking != issubclass(cls, ir.ANALOG_ONLY), f"{name}: list it in ir.AFFINE or ir.ANALOG_ONLY (npukit/ir/layers.py)"


def test_refusals_name_node_types():
    assert set(tflite_lowering.NOT_LOWERED) <= set(ir.NODE_TYPES)
