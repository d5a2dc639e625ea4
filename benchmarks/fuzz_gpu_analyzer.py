"""Byte mutants of a .tflite that npukit's reader accepts and TensorFlow's GPU Analyzer crashes on.

Why: `npukit check` (GPU analysis on by default) used to run the Analyzer in its own process; a
mutant like these killed it with SIGSEGV. npukit now runs the Analyzer in a child process
(npukit/gpu_check.py); tests/test_gpu_check.py keeps a few of the mutants found here.

Each mutant sets one byte of the base model (the CONV_2D model of tests/test_gpu_check.py, or
a file given with --model). Mutants npukit's reader refuses are skipped; each accepted one is
analysed in a forked child of a process that imported TensorFlow once, and its fate recorded.

    python benchmarks/fuzz_gpu_analyzer.py --mutants 300 --seed 7
    python benchmarks/fuzz_gpu_analyzer.py --model digits_cnn.tflite --mutants 600 --seed 1
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import signal
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def base_model() -> bytes:
    from test_gpu_check import conv_model

    return conv_model()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a .tflite to mutate (default: the test's CONV_2D model)")
    parser.add_argument("--mutants", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from npukit.errors import BadInputError
    from npukit.quiet import import_tensorflow, native_output_captured
    from npukit.tflite_file import read_tflite

    tf = import_tensorflow()
    source = args.model.read_bytes() if args.model else base_model()
    rng = np.random.default_rng(args.seed)
    accepted, crashes = 0, []
    for _ in range(args.mutants):
        data = bytearray(source)
        position = int(rng.integers(8, len(data)))  # past the root offset and the TFL3 identifier
        data[position] = int(rng.integers(0, 256))
        blob = bytes(data)
        try:
            read_tflite(blob)
        except BadInputError:
            continue
        accepted += 1
        pid = os.fork()
        if pid == 0:  # the child: the Analyzer as npukit used to run it, in-process
            signal.alarm(30)
            with native_output_captured(), contextlib.redirect_stdout(io.StringIO()):
                with contextlib.suppress(Exception):
                    tf.lite.experimental.Analyzer.analyze(model_content=blob, gpu_compatibility=True)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            crashes.append({"position": position, "byte": data[position], "was": source[position],
                            "signal": signal.Signals(os.WTERMSIG(status)).name})
    print(json.dumps({"mutants": args.mutants, "accepted_by_npukit": accepted, "analyzer_crashes": len(crashes),
                      "crashes": crashes}, indent=1))


if __name__ == "__main__":
    main()
