"""Export torchvision models (weights=None, BatchNorm statistics re-estimated on images) to ONNX,
with torch's default (dynamo) exporter and with ``dynamo=False`` (opset 17).

    python benchmarks/export_torchvision.py FOLDER NAME... (FOLDER/images_nchw.npz: ``calib``, ``eval``)

Runs in an environment with torchvision (see benchmarks/bench_real_models.py); writes
FOLDER/NAME.dynamo.onnx, FOLDER/NAME.legacy.onnx and FOLDER/NAME.torch_eval.npy (torch's logits
on the ``eval`` images). BatchNorm running statistics are the cumulative averages over the
``calib`` images in batches of 16 (``momentum=None``), so activations have the scales of natural
images rather than of random weights' first batch.
"""
import sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np, torch, torchvision
out = sys.argv[1]
data = np.load(f"{out}/images_nchw.npz")
calib, evalx = torch.from_numpy(data["calib"]), torch.from_numpy(data["eval"])
names = sys.argv[2:]
for name in names:
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None)
    if name == "googlenet":
        model = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=True)
    model.train()
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats(); m.momentum = None  # cumulative average of the batches below
    with torch.no_grad():
        for i in range(0, len(calib), 16):
            model(calib[i:i + 16])
    model.eval()
    with torch.no_grad():
        ref = model(evalx).numpy()
    np.save(f"{out}/{name}.torch_eval.npy", ref)
    x = calib[:1]
    for dynamo in (True, False):
        path = f"{out}/{name}.{'dynamo' if dynamo else 'legacy'}.onnx"
        t = time.time()
        kwargs = {} if dynamo else {"opset_version": 17}
        torch.onnx.export(model, (x,), path, dynamo=dynamo, input_names=["input"], output_names=["logits"], **kwargs)
        print(name, path, f"{time.time() - t:.1f}s", flush=True)
