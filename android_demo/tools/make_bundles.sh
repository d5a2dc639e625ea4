#!/usr/bin/env bash
# Rebuild the app's shipped bundles (app/src/main/assets) from the models npukit ships, and the
# host traces the JVM tests replay (app/src/test/resources/host_traces). Run from anywhere with
# npukit installed: bash android_demo/tools/make_bundles.sh
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
models="$(python -c 'import npukit.models, pathlib; print(pathlib.Path(npukit.models.__file__).parent)')"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
assets="$here/app/src/main/assets"
traces="$here/app/src/test/resources/host_traces"
mkdir -p "$assets" "$traces"
# rate mode: the digits CNN (Keras), int8, API 30
npukit convert "$models/digits_cnn.keras" -o "$work/digits_cnn.tflite"
# temporal mode: the digits LIF SNN (NIR), int8, one invoke per timestep, T = 25 (its training T)
npukit convert "$models/digits_lif.nir" -o "$work/digits_lif_temporal.tflite" --mode temporal -T 25
for name in digits_cnn digits_lif_temporal; do
    npukit bundle "$work/$name.tflite" --data digits --out "$assets" --force
    python "$here/tools/host_trace.py" "$assets/$name" "$traces/$name.json"
done
