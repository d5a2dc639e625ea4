"""npukit: deploy spiking and rate-coded neural networks to phone NPUs.

Public API (each documented where it is defined):

* ``npukit.load(path)``: a model file (.keras, .h5, .onnx, .nir, .npkit) as an IR ``Graph``.
* ``npukit.convert(model, output, ...)``: int8 (or float32) .tflite for NN-API, rate or temporal
  mode, or an IR file.
* ``npukit.simulate(model, data, ...)``: the spiking version of a model over T timesteps.
* ``npukit.parity(model, tflite, data, ...)``: float vs spiking vs TFLite, layer by layer.
* ``npukit.examples``: the shipped example models (``model_path``, ``copy_models``).
* ``npukit.inspect(model)``: layers, shapes, parameters and MACs (or a .tflite's ops).
* ``npukit.run_temporal(tflite, x, timesteps)``: a temporal-mode .tflite looped over T steps.
* ``npukit.bundle.write_bundle(tflite, data, out)`` / ``read_bundle(folder)``: the files the
  Android demo reads (docs/bundle.md).

Errors are ``npukit.errors.NpukitError`` subclasses with one-line messages.
"""



def _source_checkout() -> None:
    """Run from a source checkout (no install), converters/ and models/ sit beside npukit/;
    installed, they are npukit/converters and npukit/models. Make both layouts import alike."""
    from pathlib import Path

    here = Path(__file__).resolve().parent
    root = here.parent
    if not (here / "converters").is_dir() and (root / "converters" / "__init__.py").is_file():
        __path__.append(str(root))  # noqa: F821 - __path__ is the package's search path


_source_checkout()

from npukit.version import __version__  # noqa: E402
from npukit.api import SimulationReport, inspect, simulate  # noqa: E402
from npukit.conversion import ConversionResult, convert  # noqa: E402
from npukit.errors import BadInputError, NpukitError, UnsupportedError  # noqa: E402
from npukit.ir import Graph  # noqa: E402
from npukit.loading import load  # noqa: E402
from npukit.parity import ParityReport, parity  # noqa: E402
from npukit.runtime import TemporalResult, run_temporal  # noqa: E402

__all__ = [
    "__version__", "load", "convert", "simulate", "parity", "inspect", "Graph",
    "ConversionResult", "SimulationReport", "ParityReport", "NpukitError", "BadInputError", "UnsupportedError",
    "run_temporal", "TemporalResult",
]
