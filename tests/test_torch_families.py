"""Reduced versions of the torchvision families (issue 15) built from their blocks as small
torch.nn modules, exported with torch's default exporter (dynamo) and with ``dynamo=False``:
MobileNetV3 (squeeze-excite with hardsigmoid, hardswish), ShuffleNetV2 (chunk, channel
shuffle), RegNetY (grouped convolution, squeeze-excite with sigmoid), EfficientNet (SiLU),
ConvNeXt (permute, LayerNorm, GELU, layer scale). The float IR matches torch within 1e-5
(relative to the output's scale); int8 with NCHW calibration data stays within the int8 tier."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import npukit
from npukit.converters.onnx import load_onnx
from npukit.nnapi.check import check_model
from npukit.parity.metrics import cosine
from npukit.reference import evaluate
from npukit.runtime import run_tflite

torch = pytest.importorskip("torch", reason="the torch export tests need torch (pip install torch==2.13.0)")
nn = torch.nn
FLOAT_TOLERANCE = 1e-5
INT8_COSINE = 0.98


class SqueezeExcite(nn.Module):
    def __init__(self, c: int, gate: nn.Module):
        super().__init__()
        self.pool, self.fc1, self.fc2, self.gate = nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, c // 2, 1), nn.Conv2d(c // 2, c, 1), gate

    def forward(self, x):
        return x * self.gate(self.fc2(torch.relu(self.fc1(self.pool(x)))))


class MobileNetV3Like(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.Hardswish())
        self.dw = nn.Sequential(nn.Conv2d(16, 16, 3, 1, 1, groups=16), nn.BatchNorm2d(16), nn.Hardswish())
        self.se = SqueezeExcite(16, nn.Hardsigmoid())
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        x = self.se(self.dw(self.stem(x)))
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class ShuffleNetLike(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.ReLU())
        self.branch = nn.Sequential(nn.Conv2d(8, 8, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, 1, 1, groups=8), nn.Conv2d(8, 8, 1), nn.ReLU())
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        x = self.stem(x)
        a, b = x.chunk(2, dim=1)
        x = torch.cat((a, self.branch(b)), dim=1)
        n, c, h, w = x.shape  # torchvision's channel_shuffle
        x = x.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, c, h, w)
        return self.head(x.mean([2, 3]))


class RegNetLike(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 24, 3, 2, 1), nn.BatchNorm2d(24), nn.ReLU())
        self.group = nn.Sequential(nn.Conv2d(24, 24, 3, 1, 1, groups=3), nn.BatchNorm2d(24), nn.ReLU())
        self.se = SqueezeExcite(24, nn.Sigmoid())
        self.act = nn.SiLU()
        self.head = nn.Linear(24, 10)

    def forward(self, x):
        x = self.stem(x)
        x = self.act(self.se(self.group(x)) + x)
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class ConvNeXtLike(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 4, 4)
        self.dw = nn.Conv2d(16, 16, 7, padding=3, groups=16)
        self.norm = nn.LayerNorm(16, eps=1e-6)
        self.fc1, self.fc2 = nn.Linear(16, 64), nn.Linear(64, 16)
        self.scale = nn.Parameter(torch.full((16,), 0.5))
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        x = self.stem(x)
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.fc2(nn.functional.gelu(self.fc1(self.norm(y)))) * self.scale
        x = x + y.permute(0, 3, 1, 2)
        return self.head(x.mean([2, 3]))


FAMILIES = {"mobilenet_v3": MobileNetV3Like, "shufflenet_v2": ShuffleNetLike, "regnet_y": RegNetLike,
            "convnext": ConvNeXtLike}
HAS_ONNXSCRIPT = importlib.util.find_spec("onnxscript") is not None


def _images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 3, 32, 32)).astype(np.float32)


def _export(name: str, dynamo: bool, folder):
    torch.manual_seed(0)
    module = FAMILIES[name]()
    module.train()
    with torch.no_grad():  # BatchNorm statistics of the data, as a trained model has
        module(torch.from_numpy(_images(32, 1)))
    module.eval()
    path = folder / f"{name}.{'dynamo' if dynamo else 'legacy'}.onnx"
    kwargs = {} if dynamo else {"opset_version": 17}
    torch.onnx.export(module, (torch.from_numpy(_images(1, 2)),), str(path), dynamo=dynamo, input_names=["x"], **kwargs)
    return module, path


@pytest.fixture(params=[True, False], ids=["dynamo", "legacy"])
def dynamo(request):
    if request.param and not HAS_ONNXSCRIPT:
        pytest.skip("torch's default (dynamo) exporter needs onnxscript (pip install onnxscript)")
    return request.param


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_family_converts_and_matches_torch(name, dynamo, tmp_path):
    module, path = _export(name, dynamo, tmp_path)
    x = _images(64, 3)
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    graph = load_onnx(path)
    got = evaluate(graph, x[:8])[graph.output]
    np.testing.assert_allclose(got, expected[:8], atol=FLOAT_TOLERANCE * max(1.0, float(np.abs(expected).max())))
    np.savez(tmp_path / "calib.npz", x=x)  # NCHW, as a PyTorch user has it
    result = npukit.convert(path, tmp_path / f"{name}.tflite", data=tmp_path / "calib.npz", calibration_samples=64,
                            allow_cpu_fallback=name == "convnext")
    out, _ = run_tflite(result.path, np.moveaxis(x[:16], 1, -1))
    assert cosine(out, expected[:16]) >= INT8_COSINE
    report = check_model(result.path, api_level=30)
    if name == "convnext":  # GELU has no NN-API op; int8 RSQRT arrives with feature level 7
        assert {op["op"] for op in report.ops if not op["delegated"]} == {"GELU", "RSQRT"}
    else:
        assert report.fully_delegated
