"""The ``npukit`` command line: thin commands over the Python API.

Each command parses its options, calls the library with keyword arguments, prints a text report
(or JSON with ``--json``) to stdout and progress to stderr. Library errors become one line on
stderr: exit code 2 for bad input, 1 for internal errors (set NPUKIT_DEBUG=1 for a traceback);
``check --strict`` exits 3 for a model that is not fully delegated.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import warnings
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from npukit.version import __version__
from npukit.errors import NpukitError
from npukit.snn.frameworks import FRAMEWORKS

app = typer.Typer(
    name="npukit",
    help="Deploy spiking and rate-coded neural networks to phone NPUs (int8 TFLite for NN-API), "
    "with a numpy spiking runtime and three-way parity checks.",
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class Target(str, Enum):
    tflite = "tflite"
    ir = "ir"
    nir = "nir"


class Mode(str, Enum):
    rate = "rate"
    temporal = "temporal"


class Quantize(str, Enum):
    int8 = "int8"
    fp16 = "fp16"
    none = "none"


class State(str, Enum):
    float32 = "float32"
    int8 = "int8"


class Rounding(str, Enum):
    gptq = "gptq"
    nearest = "nearest"


class IOType(str, Enum):
    int8 = "int8"
    uint8 = "uint8"
    float32 = "float32"


class Encoding(str, Enum):
    current = "current"
    bernoulli = "bernoulli"
    poisson = "poisson"


# -- shared options ----------------------------------------------------------------------------
DataOpt = Annotated[
    Optional[str],
    typer.Option(
        "--data", "-d",
        help="'digits' (the default: bundled 8x8 digits; test split for reports), 'digits-events' (the digits as event streams), "
        "an .npz with x (optional y), an event .npz (events_0, ...), or N-MNIST .bin files.",
    ),
]
CalibOpt = Annotated[
    Optional[str], typer.Option("--calibration", help="Calibration DATA (default: digits train split, or the .npz --data itself).")
]
CalibSamplesOpt = Annotated[int, typer.Option("--calibration-samples", help="Calibration samples used.")]
TimestepsOpt = Annotated[
    Optional[int], typer.Option("--timesteps", "-T", help="Timesteps T (default 32, or the length of the data's time axis).")
]
EncodingOpt = Annotated[Encoding, typer.Option("--encoding", help="Input encoding: constant current or random spikes.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the bernoulli/poisson encoders.")]
PercentileOpt = Annotated[
    float, typer.Option("--percentile", help="Threshold = this percentile of each layer's positive activations (100 = max).")
]
SamplesOpt = Annotated[Optional[int], typer.Option("--samples", "-n", help="Use only the first N samples of DATA.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]
ForceOpt = Annotated[bool, typer.Option("--force", "-f", help="Overwrite existing output files.")]
DtOpt = Annotated[
    Optional[float],
    typer.Option("--dt", help="NIR models: the step in seconds (default: the framework's; nir and snntorch 1e-4, norse 1e-3, sinabs 1)."),
]


#: the framework conventions of npukit.snn.frameworks (docs/nir.md)
Framework = Enum("Framework", [(name.replace("-", "_"), name) for name in FRAMEWORKS], type=str)


class Reset(str, Enum):
    value = "value"
    zero = "zero"
    subtract = "subtract"
    none = "none"


FrameworkOpt = Annotated[
    Framework,
    typer.Option("--framework", help="NIR models: the framework that exported the graph; npukit computes what it computes (docs/nir.md)."),
]
ResetOpt = Annotated[
    Optional[Reset],
    typer.Option("--reset", help="NIR models: override the framework's reset (snnTorch writes 'zero' and 'subtract' alike)."),
]
BinUsOpt = Annotated[
    Optional[int], typer.Option("--bin-us", help="Event data: frames of this many microseconds (default 1000).", min=1)
]
FramesOpt = Annotated[Optional[int], typer.Option("--frames", help="Event data: this many frames per sample instead.", min=1)]
SensorOpt = Annotated[
    Optional[str], typer.Option("--sensor", help="Event data: sensor WIDTHxHEIGHT when the file does not say, e.g. 34x34.")
]
ExternalDataOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--external-data",
        help="ONNX models: the folder holding their external data files (default: the model's own folder; files directly in it only).",
    ),
]
ShapeOpt = Annotated[
    Optional[str],
    typer.Option(
        "--input-shape",
        help="ONNX models: input shape in ONNX layout, batch first, e.g. 1,3,224,224; fixes symbolic dimensions.",
    ),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"npukit {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """npukit: convert, simulate and check networks for phone NPUs."""


#: the library's messages name what to change as the API's keyword arguments (``force=True``);
#: the CLI says its own flags instead
_FLAGS = (
    (r"\bforce=True\b", "--force"),
    (r"\ballow_cpu_fallback=True\b", "--allow-cpu-fallback"),
    (r"\ballow_source_mismatch=True\b", "--allow-source-mismatch"),
    (r"\bquantize='none'", "--quantize none"),
    (r"\bapi_level=(\d+)", r"--api-level \1"),
    (r"\bbatch=(\d+)", r"--batch \1"),
    (r"\binput_shape=\((\d+(?:, \d+)*)\)", lambda m: "--input-shape " + m[1].replace(", ", ",")),
    (r"\bdata=\.\.\.", "--data"),
)


def cli_wording(message: str) -> str:
    """A library message with the API's keyword arguments said as this CLI's flags."""
    import re

    for pattern, flag in _FLAGS:
        message = re.sub(pattern, flag, message)
    return message


def _handles_errors(fn):
    """Turn library errors into one stderr line and an exit code (2 bad input, 1 internal)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from npukit.files import private_tempdir

        try:
            # one error line, nothing else: library warnings are not the user's business; what
            # TensorFlow, Keras or npukit write to the temporary directory goes with the command
            with warnings.catch_warnings(), private_tempdir():
                if not os.environ.get("NPUKIT_DEBUG"):
                    warnings.simplefilter("ignore")
                return fn(*args, **kwargs)
        except NpukitError as exc:
            typer.echo(f"error: {cli_wording(str(exc))}", err=True)
            raise typer.Exit(code=exc.exit_code) from None
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(code=130) from None
        except OSError as exc:  # the machine, not the input: a full disk, a missing permission
            where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
            typer.echo(f"error: {exc.strerror or exc}{where}", err=True)
            raise typer.Exit(code=1) from None
        except MemoryError:
            typer.echo("error: out of memory; use fewer --samples or a smaller --batch-size", err=True)
            raise typer.Exit(code=1) from None
        except Exception as exc:  # a bug: say so in one line unless debugging
            if os.environ.get("NPUKIT_DEBUG"):
                raise
            text = " ".join(str(exc).split())[:300]
            typer.echo(f"internal error: {type(exc).__name__}: {text} (NPUKIT_DEBUG=1 shows the traceback)", err=True)
            raise typer.Exit(code=1) from None

    return wrapper


#: progress bars appear only for work that lasts longer than this (short commands stay quiet)
SHOW_PROGRESS_AFTER_S = 2.0


@contextlib.contextmanager
def _progress(enabled: bool = True):
    """A reporter for the library's stages: rich progress bars on stderr, drawn only when
    stderr is an interactive terminal, ``enabled`` (False with --json) and the work lasts
    longer than SHOW_PROGRESS_AFTER_S. The bars are transient: nothing is left behind."""
    from npukit.progress import silent

    if not enabled or not sys.stderr.isatty():
        yield silent
        return
    import threading

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    if not console.is_interactive:  # a dumb terminal cannot redraw a bar
        yield silent
        return
    bars = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True, redirect_stdout=False,  # stdout carries the report only
    )
    lock, finished = threading.Lock(), threading.Event()

    def show() -> None:
        with lock:
            if not finished.is_set():
                bars.start()

    timer = threading.Timer(SHOW_PROGRESS_AFTER_S, show)
    timer.daemon = True
    timer.start()

    def reporter(stage: str, total: int):
        task = bars.add_task(stage, total=total)
        return lambda n: bars.advance(task, n)

    try:
        yield reporter
    finally:
        timer.cancel()
        with lock:
            finished.set()
            bars.stop()  # erases the bars; nothing happens if they were never shown


def _emit(data: dict, as_json: bool, render) -> None:
    typer.echo(json.dumps(data, indent=2, default=float) if as_json else render(data))


def _check_output(path: Optional[Path], force: bool) -> None:
    if path is not None:
        from npukit.files import check_writable

        check_writable(path, force)


def _model(path: Optional[Path], external_data: Optional[Path]) -> Optional[Path]:
    """MODEL with the --external-data folder attached (npukit.loading.with_external_data)."""
    if path is None or external_data is None:
        return path
    from npukit.loading import with_external_data

    return with_external_data(path, external_data)


def _sweep(text: Optional[str]) -> Optional[list[int]]:
    if text is None:
        return None
    from npukit.errors import BadInputError

    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise BadInputError(f"--sweep takes comma-separated integers, e.g. 1,2,4,8. Received: {text!r}")
    if not values:
        raise BadInputError("--sweep needs at least one value")
    return values


def _data(data: Optional[str], bin_us: Optional[int], frames: Optional[int], sensor: Optional[str]):
    """DATA as given, or with the event binning options (``npukit.data.DataSpec``)."""
    if data is None or (bin_us is None and frames is None and sensor is None):
        return data
    from npukit.data import DataSpec
    from npukit.events import Binning, parse_sensor

    return DataSpec(data, Binning(bin_us, frames, parse_sensor(sensor) if sensor else None))


def _shape(text: Optional[str]) -> Optional[tuple[int, ...]]:
    if text is None:
        return None
    from npukit.errors import BadInputError

    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise BadInputError(f"--input-shape takes comma-separated integers, e.g. 1,3,224,224. Received: {text!r}")
    if not values or min(values) < 1 or max(values) > 1_000_000:
        raise BadInputError(f"--input-shape needs positive sizes up to 1000000. Received: {text!r}")
    return values


# -- commands ----------------------------------------------------------------------------------


@app.command()
@_handles_errors
def convert(
    model: Annotated[Path, typer.Argument(help="Source model: .keras, .h5, .onnx, .nir or .npkit.")],
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="Output file (default: MODEL's name with .tflite / .npkit, here).")
    ] = None,
    to: Annotated[
        Target, typer.Option("--to", help="tflite; ir (npukit's lossless IR file); nir (the SNN as a NIR graph).")
    ] = Target.tflite,
    mode: Annotated[
        Mode, typer.Option("--mode", help="rate: one invoke per input; temporal: one invoke per timestep, states on the host.")
    ] = Mode.rate,
    data: DataOpt = None,
    bin_us: BinUsOpt = None,
    frames: FramesOpt = None,
    sensor: SensorOpt = None,
    calibration: CalibOpt = None,
    calibration_samples: CalibSamplesOpt = 512,
    quantize: Annotated[Quantize, typer.Option(
        "--quantize", help="int8 (int8 weights; rate mode: full integer), fp16 (float32 graph, float16 weights) or none (float32).")
    ] = Quantize.int8,
    state: Annotated[Optional[State], typer.Option("--state", help=(
        "Temporal int8: float32 (int8 synapses, float32 neuron states and I/O; default from API 30) or int8 "
        "(everything int8; default below API 30)."))] = None,
    rounding: Annotated[Rounding, typer.Option("--rounding", help=(
        "Temporal int8 of an SNN: gptq (weights rounded to keep each layer's output on the calibration data) "
        "or nearest."))] = Rounding.gptq,
    io: Annotated[
        Optional[IOType], typer.Option("--io", help="Model input/output type of an int8 model (default int8; float32 with --state float32).")
    ] = None,
    batch: Annotated[int, typer.Option("--batch", help="Static batch size of the converted model.")] = 1,
    timesteps: TimestepsOpt = None,
    encoding: EncodingOpt = Encoding.current,
    percentile: PercentileOpt = 99.9,
    api_level: Annotated[
        int, typer.Option("--api-level", help="Android API level to target; the output must run whole on NN-API there.")
    ] = 30,
    allow_cpu_fallback: Annotated[
        bool, typer.Option("--allow-cpu-fallback", help="Write the model even if some ops would run on the CPU.")
    ] = False,
    dt: DtOpt = None,
    framework: FrameworkOpt = Framework("nir"),
    reset: ResetOpt = None,
    input_shape: ShapeOpt = None,
    external_data: ExternalDataOpt = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Convert MODEL (.keras, .h5, .onnx, .nir or .npkit) to an int8 TFLite graph that NN-API runs whole.

    Rate-coded ANNs come from Keras (.keras, .h5) or ONNX (.onnx), spiking networks from NIR
    (.nir); .npkit is npukit's own IR file. --to ir / --to nir write those formats instead.

    --mode rate (default): one invoke per input (SNNs become their fitted rate-coded ANN);
    --mode temporal: one invoke per timestep, neuron states carried by the host.
    The result is checked with the NN-API rules at --api-level before it is written.
    Example: npukit convert models/digits_lif.nir -o lif_temporal.tflite --mode temporal -T 25
    """
    from npukit.conversion import convert as run
    from npukit.reports import render_convert

    if output is None:
        output = Path(model.stem + {Target.tflite: ".tflite", Target.ir: ".npkit", Target.nir: ".nir"}[to])
    with _progress(not as_json) as reporter:
        result = run(
            _model(model, external_data), output, to=to.value, mode=mode.value, data=_data(data, bin_us, frames, sensor), calibration=_data(calibration, bin_us, frames, sensor),
            calibration_samples=calibration_samples, percentile=percentile,
            quantize=quantize.value, io=io.value if io else None, state=state.value if state else None,
            rounding=rounding.value, batch=batch,
            timesteps=timesteps,
            encoding=encoding.value, api_level=api_level, allow_cpu_fallback=allow_cpu_fallback, dt=dt, framework=framework.value, reset=reset.value if reset else None,
            input_shape=_shape(input_shape), force=force, progress=reporter,
        )
    _emit(result.to_dict(), as_json, render_convert)


@app.command()
@_handles_errors
def simulate(
    model: Annotated[Path, typer.Argument(help="Model: .nir SNN, or .keras, .h5, .onnx, .npkit (rate-coded models become IF SNNs).")],
    data: DataOpt = None,
    bin_us: BinUsOpt = None,
    frames: FramesOpt = None,
    sensor: SensorOpt = None,
    timesteps: Annotated[
        Optional[int], typer.Option("--timesteps", "-T", help="Timesteps T (default 32, or the data's time axis).")
    ] = None,
    encoding: EncodingOpt = Encoding.current,
    seed: SeedOpt = 0,
    percentile: PercentileOpt = 99.9,
    calibration: CalibOpt = None,
    calibration_samples: CalibSamplesOpt = 512,
    samples: SamplesOpt = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Samples simulated together.")] = 256,
    save: Annotated[
        Optional[Path], typer.Option("--save", help="Write outputs (N, ...) and per-layer spike counts to this .npz.")
    ] = None,
    dt: DtOpt = None,
    framework: FrameworkOpt = Framework("nir"),
    reset: ResetOpt = None,
    input_shape: ShapeOpt = None,
    external_data: ExternalDataOpt = None,
    as_deployed: Annotated[Optional[Path], typer.Option("--as-deployed", help=(
        "A .tflite converted from MODEL: simulate its arithmetic (rounded weights, int8/float32 states, "
        "requantizations), as LiteRT runs it."))] = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Simulate the spiking version of MODEL over T timesteps (numpy reference runtime).

    MODEL: a NIR SNN (.nir) as its framework computes it, or a rate-coded ANN (.keras, .h5,
    .onnx, .npkit) as its IF spiking version. With --as-deployed FILE.tflite: the arithmetic of
    that converted file instead (what the phone computes), T from the file.

    Example: npukit simulate models/digits_cnn.keras --data digits -T 32 --save spikes.npz
    """
    from npukit.api import simulate as run
    from npukit.reports import render_simulate

    _check_output(save, force)
    with _progress(not as_json) as reporter:
        report = run(
            _model(model, external_data), _data(data, bin_us, frames, sensor), timesteps=timesteps, encoding=encoding.value, seed=seed,
            percentile=percentile, calibration=_data(calibration, bin_us, frames, sensor), calibration_samples=calibration_samples, samples=samples, batch_size=batch_size,
            dt=dt, framework=framework.value, reset=reset.value if reset else None, input_shape=_shape(input_shape),
            as_deployed=as_deployed, progress=reporter,
        )
    figures = report.to_dict()
    if save is not None:
        figures["saved"] = str(report.save(save, force))
    _emit(figures, as_json, render_simulate)


@app.command()
@_handles_errors
def parity(
    model: Annotated[Path, typer.Argument(help="Source model: .keras, .h5, .onnx, .nir or .npkit.")],
    converted: Annotated[Path, typer.Argument(help="The .tflite converted from MODEL.")],
    data: DataOpt = None,
    bin_us: BinUsOpt = None,
    frames: FramesOpt = None,
    sensor: SensorOpt = None,
    timesteps: Annotated[
        Optional[int], typer.Option("--timesteps", "-T", help="Timesteps T (default: the T recorded in CONVERTED, else 32).")
    ] = None,
    encoding: EncodingOpt = Encoding.current,
    seed: SeedOpt = 0,
    percentile: PercentileOpt = 99.9,
    calibration: CalibOpt = None,
    calibration_samples: CalibSamplesOpt = 512,
    samples: SamplesOpt = None,
    sweep: Annotated[Optional[str], typer.Option("--sweep", help="Also report SNN accuracy at these T, e.g. 1,2,4,8,16,32,64.")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help=(
        "Write a PNG: SNN accuracy vs T (--sweep) and, for a temporal SNN, agreement with the simulation by step."))] = None,
    divergence_cosine: Annotated[
        float, typer.Option("--divergence-cosine", help="A layer diverges when its cosine similarity falls below this.")
    ] = 0.99,
    allow_source_mismatch: Annotated[
        bool, typer.Option("--allow-source-mismatch", help="Compare even when CONVERTED records another source model (a warning says so).")
    ] = False,
    dt: DtOpt = None,
    framework: FrameworkOpt = Framework("nir"),
    reset: ResetOpt = None,
    input_shape: ShapeOpt = None,
    external_data: ExternalDataOpt = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Compare MODEL, its SNN and CONVERTED (TFLite, rate or temporal) on DATA.

    A rate-coded MODEL with a rate-mode CONVERTED: float vs SNN vs TFLite, layer by layer.
    A NIR SNN, or a temporal CONVERTED: the numpy simulation vs the TFLite model.
    CONVERTED must come from MODEL (the source hash in its metadata): another model's .tflite is
    refused (exit 2) unless --allow-source-mismatch.

    Example: npukit parity models/digits_cnn.keras digits_cnn.tflite -T 32 --sweep 1,2,4,8,16,32,64 --plot sweep.png
    """
    from npukit.errors import BadInputError
    from npukit.parity import parity as run
    from npukit.parity import plot_sweep
    from npukit.reports import render_parity

    values = _sweep(sweep)
    if plot is not None and values is None:
        from npukit.tflite_file import read_tflite

        if ((read_tflite(converted).npukit_metadata() or {}).get("mode")) != "temporal":
            raise BadInputError("--plot draws the --sweep (and, for a temporal model, the agreement by step); give --sweep too")
    _check_output(plot, force)
    with _progress(not as_json) as reporter:
        report = run(
            _model(model, external_data), converted, _data(data, bin_us, frames, sensor), timesteps=timesteps, encoding=encoding.value, seed=seed,
            percentile=percentile, calibration=_data(calibration, bin_us, frames, sensor), calibration_samples=calibration_samples, samples=samples, sweep=values,
            divergence_cosine=divergence_cosine, dt=dt, framework=framework.value, reset=reset.value if reset else None, input_shape=_shape(input_shape), progress=reporter,
            allow_source_mismatch=allow_source_mismatch,
        )
    figures = report.to_dict()
    if plot is not None:
        figures["plot"] = str(plot_sweep(report, plot, force))
    _emit(figures, as_json, render_parity)


@app.command()
@_handles_errors
def check(
    model: Annotated[Optional[Path], typer.Argument(help="Any .tflite file.")] = None,
    api_level: Annotated[
        int, typer.Option("--api-level", help="Android API level (27-35; 1000006-1000008 for NN-API feature levels 6-8).")
    ] = 30,
    list_rules: Annotated[bool, typer.Option("--list-rules", help="Print the NN-API rule table and exit.")] = False,
    gpu: Annotated[bool, typer.Option("--gpu/--no-gpu", help="Add GPU-delegate compatibility from TensorFlow's Analyzer.")] = True,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 3 when the model is not fully delegated at the level (a CI gate).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Report, op by op, what the NN-API delegate runs of MODEL at an Android API level, and why not.

    Exit status: 0 when the report is printed (with --strict: only when every op runs on NN-API),
    3 with --strict when the model is not fully delegated, 2 for a bad file or flag.

    Example: npukit check digits_cnn.tflite --api-level 29 --strict
    """
    from npukit.errors import BadInputError
    from npukit.nnapi.check import check_model
    from npukit.nnapi.rules import rules_table
    from npukit.reports import render_check, render_rules

    if list_rules:
        rows = rules_table()
        typer.echo(json.dumps(rows, indent=2) if as_json else render_rules(rows))
        return
    if model is None:
        raise BadInputError("give a .tflite file to check (or --list-rules)")
    report = check_model(model, api_level, gpu=gpu)
    _emit(report.to_dict(), as_json, render_check)
    if strict and not report.fully_delegated:
        raise typer.Exit(code=3)  # distinct from 1 (internal error) and 2 (bad input)


@app.command()
@_handles_errors
def profile(
    model: Annotated[Path, typer.Argument(help="A .tflite file.")],
    source: Annotated[
        Optional[Path], typer.Option("--source", help="The model it was converted from (.keras, .h5, .onnx, .nir, .npkit): counts per layer from the IR.")
    ] = None,
    data: Annotated[
        Optional[str], typer.Option("--data", "-d", help="Inputs for timing, and (with --source) spikes for SOP counts.")
    ] = None,
    bin_us: BinUsOpt = None,
    frames: FramesOpt = None,
    sensor: SensorOpt = None,
    runs: Annotated[int, typer.Option("--runs", help="Steady-state invokes timed.")] = 100,
    warmup: Annotated[int, typer.Option("--warmup", help="Invokes before timing.")] = 10,
    threads: Annotated[Optional[int], typer.Option("--threads", help="Interpreter threads (default: LiteRT's).")] = None,
    no_xnnpack: Annotated[bool, typer.Option("--no-xnnpack", help="Builtin kernels only (no XNNPACK delegate).")] = False,
    timesteps: Annotated[
        Optional[int], typer.Option("--timesteps", "-T", help="T of SNN counts and temporal loops (default: the model's).")
    ] = None,
    energy_table: Annotated[
        Optional[Path], typer.Option("--energy-table", help="JSON of energy costs overriding the shipped tables.")
    ] = None,
    device_report: Annotated[
        Optional[Path], typer.Option("--device-report", help="A benchmark JSON from the Android demo: shown beside the host.")
    ] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Write the latency histogram and energy bars as a PNG.")] = None,
    dt: DtOpt = None,
    framework: FrameworkOpt = Framework("nir"),
    reset: ResetOpt = None,
    input_shape: ShapeOpt = None,
    external_data: ExternalDataOpt = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Time MODEL on LiteRT, count its operations and estimate its energy per inference.

    Example: npukit profile digits_cnn.tflite --source models/digits_cnn.keras --data digits --plot profile.png
    """
    from npukit.figures import render
    from npukit.files import atomic_write
    from npukit.profile.run import compare_device
    from npukit.profile.run import profile as run
    from npukit.reports import render_profile

    _check_output(plot, force)
    with _progress(not as_json) as reporter:
        report = run(
            model, source=_model(source, external_data), data=_data(data, bin_us, frames, sensor), runs=runs, warmup=warmup, threads=threads, use_xnnpack=not no_xnnpack,
            timesteps=timesteps, energy_table=energy_table, dt=dt, framework=framework.value, reset=reset.value if reset else None, input_shape=_shape(input_shape), progress=reporter,
        )
    figures = report.to_dict()
    if device_report is not None:
        figures["device_comparison"] = compare_device(figures, device_report)
    if plot is not None:
        figures["plot"] = str(atomic_write(plot, render(("profile", (figures, figures["latency_samples_ms"])))[0], force))
    _emit(figures, as_json, render_profile)


@app.command()
@_handles_errors
def report(
    model: Annotated[Path, typer.Argument(help="Source model: .keras, .h5, .onnx, .nir or .npkit.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")] = Path("report.html"),
    data: DataOpt = None,
    bin_us: BinUsOpt = None,
    frames: FramesOpt = None,
    sensor: SensorOpt = None,
    timesteps: TimestepsOpt = None,
    mode: Annotated[Mode, typer.Option("--mode", help="Conversion mode (rate or temporal).")] = Mode.rate,
    api_level: Annotated[int, typer.Option("--api-level", help="Android API level to check.")] = 30,
    runs: Annotated[int, typer.Option("--runs", help="Steady-state invokes timed.")] = 100,
    samples: SamplesOpt = None,
    dt: DtOpt = None,
    framework: FrameworkOpt = Framework("nir"),
    reset: ResetOpt = None,
    input_shape: ShapeOpt = None,
    external_data: ExternalDataOpt = None,
    force: ForceOpt = False,
) -> None:
    """Convert, check parity, check NN-API delegation and profile MODEL; write one HTML page.

    MODEL: .keras, .h5, .onnx, .nir or .npkit, in rate or temporal --mode.

    Example: npukit report models/digits_cnn.keras --data digits -o report.html
    """
    from npukit.html_report import build_report

    with _progress() as reporter:
        path = build_report(
            _model(model, external_data), output, data=_data(data, bin_us, frames, sensor), timesteps=timesteps, mode=mode.value, api_level=api_level, runs=runs, dt=dt, framework=framework.value, reset=reset.value if reset else None,
            input_shape=_shape(input_shape), samples=samples,
            force=force, progress=reporter,
        )
    typer.echo(f"wrote {path}")


@app.command()
@_handles_errors
def bundle(
    model: Annotated[Path, typer.Argument(help="A .tflite file (from npukit convert, batch 1).")],
    data: Annotated[str, typer.Option("--data", "-d", help="Test samples: DATA as for the other commands (its test split).")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="An existing folder; the bundle goes to OUT/NAME/ (e.g. android_demo/app/src/main/assets).")
    ],
    name: Annotated[Optional[str], typer.Option("--name", help="Bundle folder name (default: the model's file stem).")] = None,
    samples: Annotated[Optional[int], typer.Option("--samples", help="Keep the first N test samples (default: all).")] = None,
    timesteps: Annotated[
        Optional[int], typer.Option("--timesteps", "-T", help="Temporal models: timesteps per inference (default: the model's).")
    ] = None,
    bin_us: BinUsOpt = None,
    frames: FramesOpt = None,
    sensor: SensorOpt = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Replace an existing bundle of that name.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Pack MODEL, test vectors, labels and bundle.json for the Android demo app.

    The host runs the model on every sample first; its predictions travel with the vectors so
    the app can report its top-1 agreement with the host. Layout and keys: docs/bundle.md.
    Example: npukit bundle digits_cnn.tflite --data digits --out android_demo/app/src/main/assets
    """
    from npukit.bundle import write_bundle
    from npukit.reports import render_bundle

    _emit(
        write_bundle(model, _data(data, bin_us, frames, sensor), out, name=name, samples=samples, timesteps=timesteps, force=force),
        as_json, render_bundle,
    )


@app.command()
@_handles_errors
def inspect(
    model: Annotated[Path, typer.Argument(help="A .keras, .h5, .onnx, .nir, .npkit or .tflite file.")],
    dt: DtOpt = None,
    framework: FrameworkOpt = Framework("nir"),
    reset: ResetOpt = None,
    input_shape: ShapeOpt = None,
    external_data: ExternalDataOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print MODEL's layers, shapes, parameters and MACs (or a .tflite's ops and metadata).

    Example: npukit inspect models/digits_cnn.keras
    """
    from npukit.api import inspect as run
    from npukit.reports import render_inspect

    _emit(run(_model(model, external_data), dt=dt, framework=framework.value, reset=reset.value if reset else None, input_shape=_shape(input_shape)), as_json, render_inspect)


@app.command()
@_handles_errors
def demo(
    snn: Annotated[
        bool, typer.Option("--snn", help="Run the shipped LIF SNN (NIR) through rate and temporal mode instead.")
    ] = False,
    events: Annotated[
        bool, typer.Option("--events", help="Run the shipped event-camera SNN on the digits as event streams instead.")
    ] = False,
    rsnn: Annotated[
        bool, typer.Option("--rsnn", help="Run the shipped recurrent SNN on the digits read one row per step instead.")
    ] = False,
    timesteps: Annotated[
        Optional[int], typer.Option("--timesteps", "-T", help="Timesteps T (default 32; 25 for --snn; --events: the data's 30).")
    ] = None,
    out: Annotated[
        Optional[Path], typer.Option("--out", help="Folder to keep the converted models in (default: a temporary one).")
    ] = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Convert a shipped example to int8 TFLite and run the parity check on it.

    Default: the digits CNN (Keras), float vs SNN vs TFLite. --snn: the digits LIF SNN (NIR), its
    simulation vs a rate-mode and a temporal-mode TFLite (int8, and float32 temporal). --events:
    the event-camera SNN on digits-events, the same three conversions and an Android bundle.
    --rsnn: the recurrent SNN on digits-rows, temporal int8 and float32 and an Android bundle.
    Example: npukit demo -T 32; npukit demo --snn; npukit demo --events; npukit demo --rsnn
    """
    from npukit.demo import run_demo, summary
    from npukit.errors import BadInputError
    from npukit.reports import render_bundle, render_convert, render_parity

    if snn + events + rsnn > 1:
        raise BadInputError("choose one example: --snn, --events or --rsnn")
    example = "snn" if snn else "events" if events else "rsnn" if rsnn else "cnn"
    with _progress(not as_json) as reporter:
        figures = run_demo(example, timesteps, out, force, reporter)
    if as_json:
        typer.echo(json.dumps(figures if example != "cnn" else figures["runs"][0], indent=2, default=float))
        return
    typer.echo(f"npukit demo: shipped model {figures['model']} (see npukit models)")
    for entry in figures["runs"]:
        typer.echo(render_convert(entry["convert"]))
        typer.echo(render_parity(entry["parity"]))
    if figures["bundle"] is not None:
        typer.echo(render_bundle(figures["bundle"]))
    if example != "cnn":
        typer.echo(summary(figures))


@app.command()
@_handles_errors
def models(
    path: Annotated[
        Optional[str], typer.Option("--path", help="Print only the installed path of this shipped model (e.g. digits_cnn.keras).")
    ] = None,
    copy: Annotated[
        Optional[Path], typer.Option("--copy", help="Copy the shipped models into this folder (created if missing).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="With --copy: replace files that differ.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List the example models shipped with npukit, print one's path, or copy them into a folder.

    The README's commands name them as models/NAME: run `npukit models --copy models` first, from any folder.
    Example: npukit models --copy models; npukit inspect "$(npukit models --path digits_lif.nir)"
    """
    from npukit.errors import BadInputError
    from npukit.examples import copy_models, model_path, render_models, shipped_models

    if path is not None and copy is not None:
        raise BadInputError("give --path or --copy, not both")
    if path is not None:
        found = str(model_path(path))
        typer.echo(json.dumps({"name": path, "path": found}) if as_json else found)
        return
    if copy is not None:
        rows = copy_models(copy, force)
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
        else:
            for row in rows:
                typer.echo(f"{'copied' if row['copied'] else 'already there'}: {row['path']}")
        return
    rows = shipped_models()
    typer.echo(json.dumps(rows, indent=2) if as_json else render_models(rows))


def _is_usage_error(exc: BaseException) -> bool:
    """Click's (or Typer's vendored click's) exceptions carry format_message and exit_code."""
    return hasattr(exc, "format_message") and hasattr(exc, "exit_code")



#: Typer's value checks speak pydantic ("Value error, ...", "Input should be ..."): say it plainly
_USAGE_WORDING = (
    (r"Value error, ", ""),
    (r"Input should be a valid integer, unable to parse string as an integer", "expected an integer"),
    (r"Input should be a valid number, unable to parse string as a number", "expected a number"),
    (r"Input should be ", "must be "),
)


def usage_wording(message: str) -> str:
    """Click/Typer's message of a usage error, without the validation library's phrasing."""
    import re

    for pattern, plain in _USAGE_WORDING:
        message = re.sub(pattern, plain, message)
    return message


def main() -> None:
    """Console entry point: usage errors (bad option values, unknown options) become one line
    on stderr with exit code 2, like the library's own errors."""
    from npukit import interrupt

    interrupt.install()  # SIGTERM unwinds like Ctrl-C (temporary files go too); neither writes output
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        if not _is_usage_error(exc):
            raise
        ctx = getattr(exc, "ctx", None)
        path = getattr(ctx, "command_path", "npukit") if ctx is not None else "npukit"
        typer.echo(f"error: {usage_wording(exc.format_message())} (see {path} -h)", err=True)
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
