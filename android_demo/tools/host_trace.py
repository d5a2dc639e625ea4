"""Record what the host's LiteRT sees and returns, invoke by invoke, for a bundle's samples.

The trace is the reference the app's Kotlin loop is tested against on the JVM
(app/src/test/.../HostTraceTest.kt): for each traced sample and timestep, every input tensor's
bytes as npukit's host loop (npukit.runtime.StepLoop, the loop of npukit.run_temporal) feeds
them, and every output tensor's bytes (LiteRT on this machine).
A replay invoker built from it answers the Kotlin loop's invokes and checks that the loop fed
byte-identical inputs.

    python android_demo/tools/host_trace.py android_demo/app/src/main/assets/digits_cnn \
        android_demo/app/src/test/resources/host_traces/digits_cnn.json [--samples N]

Default samples: all for a rate-mode bundle, 4 for a temporal one (T invokes each).
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path

import numpy as np


def trace(folder: Path, samples: int | None = None) -> dict:
    from npukit.bundle import read_bundle
    from npukit.runtime import StepLoop, make_interpreter

    doc, vectors = read_bundle(folder)
    loop = StepLoop(make_interpreter(str(folder / "model.tflite")), doc["states"])
    n = samples if samples is not None else (doc["vectors"]["samples"] if doc["mode"] == "rate" else 4)
    n = min(n, doc["vectors"]["samples"])
    shape = (loop.batch, *loop.frame_shape)
    traced = []
    for k in range(n):
        frames = vectors.frames[k].reshape((-1, *shape))
        steps = []

        def record(t: int, states, step) -> None:
            steps.append({
                "inputs": [_b64(step.fed[i]) for i in range(len(loop.inputs))],
                "outputs": [_b64(g) for g in step.got],
            })

        # the prediction: argmax of the readouts' sum, or of the last one (a recurrent ANN)
        keep = "last" if doc.get("readout") == "last" else "sum"
        total = loop.run(frames[0] if len(frames) == 1 else frames, doc["timesteps"], record, keep=keep)
        traced.append({"index": k, "prediction": int(np.argmax(total.reshape(-1))), "steps": steps})
    return {"bundle": doc["name"], "model_sha256": doc["model"]["sha256"], "samples": traced}


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()).decode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path, help="a bundle folder (npukit bundle's output)")
    parser.add_argument("out", type=Path, help="the trace JSON to write")
    parser.add_argument("--samples", type=int, default=None)
    args = parser.parse_args(argv)
    args.out.write_text(json.dumps(trace(args.bundle, args.samples), separators=(",", ":")) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
