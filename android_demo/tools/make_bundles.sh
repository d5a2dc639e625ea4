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
# the same SNN in float32 (for the GPU delegate; reproduces the simulator's spike counts exactly)
npukit convert "$models/digits_lif.nir" -o "$work/digits_lif_temporal_f32.tflite" --mode temporal -T 25 \
    --quantize none --api-level 28
# the event-camera SNN (NIR) on the digits as event streams, int8, T = 30 frames from the data
npukit convert "$models/digits_events.nir" -o "$work/digits_events_temporal.tflite" --mode temporal --data digits-events
# the recurrent SNN (NIR, a recurrent edge) reading the digits row by row, int8, T = 16 from the data
npukit convert "$models/digits_rsnn.nir" -o "$work/digits_rsnn_temporal.tflite" --mode temporal --data digits-rows
for name in digits_cnn digits_lif_temporal digits_lif_temporal_f32; do
    npukit bundle "$work/$name.tflite" --data digits --out "$assets" --force
done
npukit bundle "$work/digits_events_temporal.tflite" --data digits-events --samples 60 --out "$assets" --force
npukit bundle "$work/digits_rsnn_temporal.tflite" --data digits-rows --out "$assets" --force
python "$here/tools/host_trace.py" "$assets/digits_cnn" "$traces/digits_cnn.json"                 # all 360 samples
python "$here/tools/host_trace.py" "$assets/digits_lif_temporal" "$traces/digits_lif_temporal.json" --samples 4
python "$here/tools/host_trace.py" "$assets/digits_lif_temporal_f32" "$traces/digits_lif_temporal_f32.json" --samples 2
python "$here/tools/host_trace.py" "$assets/digits_events_temporal" "$traces/digits_events_temporal.json" --samples 2
python "$here/tools/host_trace.py" "$assets/digits_rsnn_temporal" "$traces/digits_rsnn_temporal.json" --samples 4
