"""Latency of a .tflite on LiteRT, measured in a fresh process.

A separate Python process (``python -m npukit.profile.latency``) loads only the interpreter, so
its peak resident memory belongs to the model and the runtime, and nothing the parent imported
(TensorFlow, Keras) competes with it. Figures, as TFLite's benchmark_model reports them:

* ``init_ms``: interpreter construction and tensor allocation;
* ``first_inference_ms``: the first invoke (one-time kernel preparation included);
* ``warmup_mean_ms``: mean of the ``warmup`` invokes after it;
* ``latency_ms``: the ``runs`` steady-state invokes: mean, std, min, max, p50, p90, p99
  (``latency_samples_ms``: each of them);
* ``peak_rss_mb`` and ``baseline_rss_mb``: the process's peak resident memory after the runs and
  before the model was loaded (MiB).

Inputs are the first samples of DATA when given, else random values of each input's dtype. For
a temporal model one invoke is one timestep; ``step_loop_ms`` times whole T-step inferences, the
host feeding each step's states back as the Android demo does.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from npukit.errors import BadInputError, InternalError
from npukit.validation import MAX_TIMESTEPS, int_in_range



def cpu_name() -> str:
    """The host CPU's model name (from /proc/cpuinfo), else the machine architecture."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def _stats(times_ms: list[float]) -> dict[str, float]:
    t = np.asarray(times_ms, dtype=np.float64)
    return {
        "count": int(t.size), "mean": float(t.mean()), "std": float(t.std()), "min": float(t.min()),
        "max": float(t.max()), "p50": float(np.percentile(t, 50)), "p90": float(np.percentile(t, 90)),
        "p99": float(np.percentile(t, 99)),
    }


def _rss_mb() -> float:
    """Peak resident memory of this process (MiB). /proc's VmHWM belongs to this program image;
    getrusage's maximum would include the parent's at fork time."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux and BSD report KiB


def _inputs(interp, samples: np.ndarray | None) -> list[np.ndarray]:
    from npukit.runtime import quantize

    rng = np.random.default_rng(0)
    values = []
    for k, detail in enumerate(interp.get_input_details()):
        shape, dtype = tuple(detail["shape"]), detail["dtype"]
        if k == 0 and samples is not None:
            batch = shape[0]
            x = np.resize(samples, (batch,) + tuple(samples.shape[1:])).astype(np.float32)
            values.append(quantize(x, detail))
        elif np.issubdtype(dtype, np.floating):
            values.append(rng.standard_normal(shape).astype(dtype))
        else:
            info = np.iinfo(dtype)
            values.append(rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype))
    return values


def measure(model: str, runs: int, warmup: int, threads: int | None, use_xnnpack: bool,
            samples: np.ndarray | None = None, timesteps: int | None = None,
            deadline_s: float | None = None) -> dict[str, Any]:
    """Run in the worker process: load, invoke, time. With ``deadline_s``, refuse (after the
    warm-up) a measurement that would take longer."""
    from npukit.runtime import interpreter_name, make_interpreter

    baseline = _rss_mb()
    start = time.perf_counter()
    interp = make_interpreter(model, num_threads=threads, use_xnnpack=use_xnnpack)
    init_ms = (time.perf_counter() - start) * 1e3
    details = interp.get_input_details()
    for detail, value in zip(details, _inputs(interp, samples)):
        interp.set_tensor(detail["index"], value)

    def invoke() -> float:
        t0 = time.perf_counter()
        interp.invoke()
        return (time.perf_counter() - t0) * 1e3

    first = invoke()
    warm = [invoke() for _ in range(warmup)]
    if deadline_s is not None:
        _check_duration(time.perf_counter() - start, np.mean(warm) if warm else first, runs, timesteps, deadline_s)
    steady = [invoke() for _ in range(runs)]
    result = {
        "interpreter": interpreter_name(),
        "init_ms": init_ms,
        "first_inference_ms": first,
        "warmup_mean_ms": float(np.mean(warm)) if warm else None,
        "latency_ms": _stats(steady),
        "latency_samples_ms": steady,
        "runs": runs,
        "warmup": warmup,
        "threads": threads,
        "xnnpack": use_xnnpack,
    }
    if timesteps:
        from npukit.runtime import dequantize

        frame = dequantize(_inputs(interp, samples)[0], details[0])
        result["step_loop_ms"] = _stats(_step_loops(interp, model, frame, timesteps, max(3, min(runs, 20))))
        result["timesteps"] = timesteps
    result["peak_rss_mb"] = _rss_mb()
    result["baseline_rss_mb"] = baseline
    return result


def _check_duration(elapsed_s: float, invoke_ms: float, runs: int, timesteps: int | None, deadline_s: float) -> None:
    """Refuse when the invokes still to come would not end within ``deadline_s``."""
    invokes = runs + (timesteps or 0) * max(3, min(runs, 20))
    remaining_s = invokes * invoke_ms / 1e3
    if elapsed_s + remaining_s > deadline_s:
        raise BadInputError(
            f"timing {invokes:,} invokes of {invoke_ms:.3f} ms would take about {remaining_s:,.0f} s, "
            f"more than the {deadline_s:.0f} s allowed; use fewer runs or timesteps"
        )


def _step_loops(interp, model: str, frame: np.ndarray, timesteps: int, repeats: int) -> list[float]:
    """Times of whole T-step inferences of a temporal model through the host loop
    (``npukit.runtime.StepLoop``: the states found by name in the metadata, quantized in and
    dequantized out at every step, as ``run_temporal`` and the Android app do)."""
    from npukit.runtime import StepLoop, temporal_metadata

    loop = StepLoop(interp, temporal_metadata(model)["state_order"])
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        loop.run(frame, timesteps)
        times.append((time.perf_counter() - t0) * 1e3)
    return times


_REFUSED = 3  # the worker's exit code for a model or settings it refuses (JSON on stdout)


def measure_latency(model: str | Path, runs: int = 100, warmup: int = 10, threads: int | None = None,
                    use_xnnpack: bool = True, samples: np.ndarray | None = None,
                    timesteps: int | None = None, timeout_s: float = 600) -> dict[str, Any]:
    """Measure ``model`` in a fresh process; returns the figures of the module docstring.

    The worker is an isolated interpreter (``npukit.child``) that dies with this process. After
    the warm-up it predicts how long the rest takes; a measurement that would not finish
    within ``timeout_s`` is refused then, with the estimate. A model LiteRT refuses, or that
    crashes it, is a BadInputError."""
    from npukit.child import NEUTRAL_CWD, python_command

    runs = int_in_range("runs", runs, 1, 1_000_000)  # numpy integers welcome, bools refused
    warmup = int_in_range("warmup", warmup, 0, 100_000)
    threads = None if threads is None else int_in_range("threads", threads, 1, 256)
    timesteps = None if timesteps is None else int_in_range("timesteps", timesteps, 1, MAX_TIMESTEPS)
    args = {"model": str(Path(model).resolve()), "runs": runs, "warmup": warmup, "threads": threads,
            "use_xnnpack": use_xnnpack, "timesteps": timesteps, "deadline_s": timeout_s,
            "samples": None if samples is None else np.asarray(samples, np.float32).tolist()}
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    try:
        proc = subprocess.run(
            python_command("npukit.profile.latency:_worker", str(os.getpid())), input=json.dumps(args),
            capture_output=True, text=True, timeout=timeout_s + 30, env=env, cwd=NEUTRAL_CWD,
        )
    except subprocess.TimeoutExpired:
        raise BadInputError(f"{model}: timing did not finish in {timeout_s:.0f} s; use fewer runs or timesteps")
    if proc.returncode == _REFUSED:
        answer = json.loads(proc.stdout.strip().splitlines()[-1])
        raise BadInputError(f"{model}: {answer['message']}")
    if proc.returncode < 0:
        raise BadInputError(f"{model}: LiteRT crashed running this model (signal {-proc.returncode})")
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        raise InternalError(f"the latency worker failed: {lines[-1] if lines else 'no message'}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _refuse(message: str) -> None:
    print(json.dumps({"message": " ".join(message.split())[:400]}))
    sys.exit(_REFUSED)


def _worker() -> None:
    """Run in the worker: sys.argv = [entry, parent pid]; the arguments come on stdin."""
    from npukit.child import die_with_parent
    from npukit.errors import NpukitError

    die_with_parent(int(sys.argv[1]))
    args = json.loads(sys.stdin.read())
    samples = None if args["samples"] is None else np.asarray(args["samples"], np.float32)
    try:
        result = measure(args["model"], args["runs"], args["warmup"], args["threads"], args["use_xnnpack"], samples,
                         args["timesteps"], args.get("deadline_s"))
    except NpukitError as exc:
        _refuse(str(exc))
    except (ValueError, RuntimeError) as exc:  # LiteRT: ops it lacks, tensors it cannot allocate
        _refuse(f"LiteRT refused the model ({type(exc).__name__}: {exc})")
    print(json.dumps(result))


if __name__ == "__main__":
    _worker()
