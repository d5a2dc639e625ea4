"""Running converted .tflite models on the host with LiteRT.

* ``npukit.runtime.interpreter``: which TFLite interpreter is used, quantization of inputs and
  outputs, ``run_tflite`` (a rate-mode model over a data set, intermediate tensors traced);
* ``npukit.runtime.steploop``: the host loop of a temporal-mode model (one invoke per timestep,
  states carried), ``StepLoop`` and ``run_temporal``;
* ``npukit.runtime.numpy_interpreter``: a .tflite's own arithmetic in numpy (``NumpyInterpreter``,
  LiteRT's interface, any batch), and ``npukit.runtime.deployed``: ``simulate_deployed``, what the
  phone computes predicted from the file.
"""

from npukit.runtime.interpreter import dequantize, interpreter_name, make_interpreter, quantize, run_tflite
from npukit.runtime.steploop import StepLoop, TemporalResult, run_temporal, temporal_metadata
from npukit.runtime.numpy_interpreter import NumpyInterpreter
from npukit.runtime.deployed import simulate_deployed

__all__ = [
    "dequantize", "interpreter_name", "make_interpreter", "quantize", "run_tflite",
    "StepLoop", "TemporalResult", "run_temporal", "temporal_metadata", "NumpyInterpreter", "simulate_deployed",
]
