"""The README, as a new user runs it: every command and Python snippet of its code blocks, as
written, in a fresh temporary folder outside the repository, and every transcript it shows
compared with the real output.

How the README is read (``readme_blocks``):

* a ```` ```bash ```` block is a list of commands: lines joined at a trailing backslash,
  ``# comments`` dropped, ``&&`` chains split. Each block runs in its own empty folder, its
  commands in order (a later command may read what an earlier one wrote). ``npukit ...`` runs
  in this process through Typer's CliRunner (the console script's code, without paying
  TensorFlow's import per command); ``pip install ...`` and ``pytest`` are not run (the suite
  runs in the installed package, and this test is part of the suite); anything else runs in
  bash. A command that exits non-zero fails the test with its text, exit code and output.
* a ```` ```python ```` block runs as one script (``exec``) in its own empty folder.
* a plain ```` ``` ```` block after a line saying "`npukit ...` prints" is that command's
  transcript: the test compares it line by line with the command's real stdout; a line ``...``
  stands for any number of lines, and only timing figures (a number followed by s, ms or us)
  may differ. The command's output is the one of the run above, else it is run for this check.

The README names files a user would bring: ``STAND_INS`` makes a small stand-in for each (a
Keras CNN for ``model.keras``, an ONNX net with a symbolic input for ``resnet.onnx``, NIR
graphs in the sinabs and snnTorch conventions, event streams, N-MNIST ``.bin`` folders, a
device report), created in a block's folder when the block's text names it. A command that
needs a file nobody makes fails with its own "does not exist" line, named in the failure.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from npukit.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: commands the test does not run, and why
NOT_RUN = {
    "pip": "the suite runs in the installed package: the install is what runs it",
    "pytest": "this test is part of the suite",
}
#: a time in a transcript: the one figure allowed to differ between runs
TIMING = r"\d+(?:\.\d+)?(?= ?(?:s|ms|us)\b)"


@dataclass
class Block:
    kind: str  # bash, python or transcript
    text: str
    line: int  # where the block starts in README.md
    command: str = ""  # a transcript's command
    commands: list[str] = field(default_factory=list)


def readme_blocks(text: str) -> list[Block]:
    """The README's code blocks (module docstring), in order."""
    blocks = []
    for match in re.finditer(r"^```([\w-]*)\n(.*?)^```", text, re.M | re.S):
        lang, body = match.group(1), match.group(2)
        line = text[: match.start()].count("\n") + 1
        before = text[: match.start()].rstrip().rsplit("\n\n", 1)[-1]
        said = re.search(r"`(npukit[^`]*)` prints", before)
        if lang in ("bash", "sh", "shell"):
            blocks.append(Block("bash", body, line, commands=shell_commands(body)))
        elif lang == "python":
            blocks.append(Block("python", body, line))
        elif lang in ("", "text", "console") and said:
            blocks.append(Block("transcript", body, line, command=said.group(1)))
    return blocks


def shell_commands(body: str) -> list[str]:
    """The commands of a bash block: continuations joined, comments dropped, && split."""
    joined = re.sub(r"\\\n\s*", " ", body)
    commands = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        current: list[str] = []
        for word in words + ["&&"]:
            if word == "&&":
                if current:
                    commands.append(shlex.join(current))
                current = []
            else:
                current.append(word)
    return commands


# -- stand-ins for the files the README's examples assume -----------------------------------------


def _keras_model(path: Path) -> None:
    """``model.keras``: a small CNN on 6 x 6 x 2 inputs, 4 classes (not the digits' shape)."""
    import keras

    keras.utils.set_random_seed(0)
    L = keras.layers
    keras.Sequential([
        keras.Input((6, 6, 2)), L.Conv2D(8, 3, padding="same", activation="relu"), L.AveragePooling2D(2),
        L.Flatten(), L.Dense(16, activation="relu"), L.Dense(4),
    ]).save(path)


def _my_data(path: Path) -> None:
    """``my_data.npz``: 48 labelled samples for ``model.keras``."""
    rng = np.random.default_rng(1)
    np.savez(path, x=rng.uniform(0, 1, (48, 6, 6, 2)).astype(np.float32), y=rng.integers(0, 4, 48))


def _resnet_onnx(path: Path) -> None:
    """``resnet.onnx``: Conv (7x7, stride 4) -> Relu -> GlobalAveragePool -> Flatten -> Gemm on a
    symbolic (N, 3, H, W) input, so ``--input-shape`` is needed, as for a real ResNet export."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(2)
    N = helper.make_node
    nodes = [N("Conv", ["x", "W", "B"], ["c"], strides=[4, 4], pads=[3, 3, 3, 3]), N("Relu", ["c"], ["r"]),
             N("GlobalAveragePool", ["r"], ["g"]), N("Flatten", ["g"], ["f"]), N("Gemm", ["f", "Wf", "Bf"], ["y"], transB=1)]
    inits = {"W": rng.normal(0, 0.1, (8, 3, 7, 7)), "B": np.zeros(8), "Wf": rng.normal(0, 0.3, (5, 8)), "Bf": np.zeros(5)}
    graph = helper.make_graph(
        nodes, "resnet_stand_in", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def _images(path: Path) -> None:
    """``images.npz``: 8 channels-first 224 x 224 RGB images for ``resnet.onnx``."""
    np.savez(path, x=np.random.default_rng(3).uniform(0, 1, (8, 3, 224, 224)).astype(np.float32))


SENSOR = (12, 12)


def _event_streams(count: int, rng, sensor=SENSOR, duration_us=20_000) -> list[np.ndarray]:
    from npukit.events import EVENT_DTYPE

    streams = []
    for _ in range(count):
        n = int(rng.integers(200, 400))
        e = np.zeros(n, EVENT_DTYPE)
        e["x"], e["y"] = rng.integers(0, sensor[0], n), rng.integers(0, sensor[1], n)
        e["t"], e["p"] = np.sort(rng.integers(0, duration_us, n)), rng.integers(0, 2, n)
        streams.append(e)
    return streams


def _events(path: Path) -> None:
    """``events.npz``: 16 labelled event streams of a 12 x 12 sensor (tonic's layout)."""
    rng = np.random.default_rng(4)
    streams = _event_streams(16, rng)
    np.savez(path, **{f"events_{k}": e for k, e in enumerate(streams)}, y=rng.integers(0, 3, 16),
             sensor_size=np.array([*SENSOR, 2]))


def _nmnist(folder: Path) -> None:
    """``NMNIST/Test``: N-MNIST's layout, ``<label>/*.bin`` files of 5-byte events, 34 x 34."""
    rng = np.random.default_rng(5)
    for label in range(3):
        for k, e in enumerate(_event_streams(2, rng, (34, 34), 30_000)):
            t = e["t"].astype(np.int64)
            raw = np.stack([e["x"], e["y"], (e["p"].astype(np.int64) << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF], 1)
            (folder / "Test" / str(label)).mkdir(parents=True, exist_ok=True)
            (folder / "Test" / str(label) / f"{k:05d}.bin").write_bytes(raw.astype(np.uint8).tobytes())


def _conv_if_net(path: Path, channels: int, size: tuple[int, int], classes: int, seed: int) -> None:
    """A sinabs-style event CNN as NIR: Conv2d -> IF -> SumPool2d -> Flatten -> Affine -> IF."""
    import nir

    rng = np.random.default_rng(seed)
    h, w = size
    c = 4
    flat = c * (h // 2) * (w // 2)
    ones = lambda *s: np.ones(s, np.float32)  # noqa: E731
    nodes = {
        "input": nir.Input(input_type={"input": np.array([channels, h, w])}),
        "conv": nir.Conv2d(input_shape=(h, w), weight=rng.normal(0, 0.5, (c, channels, 3, 3)).astype(np.float32),
                           stride=1, padding=1, dilation=1, groups=1, bias=np.zeros(c, np.float32)),
        "if1": nir.IF(r=ones(c, h, w), v_threshold=ones(c, h, w), v_reset=np.zeros((c, h, w), np.float32)),
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([c, h // 2, w // 2])}, start_dim=0),
        "fc": nir.Affine(weight=rng.normal(0, 0.3, (classes, flat)).astype(np.float32), bias=np.zeros(classes, np.float32)),
        "if2": nir.IF(r=ones(classes), v_threshold=ones(classes), v_reset=np.zeros(classes, np.float32)),
        "output": nir.Output(output_type={"output": np.array([classes])}),
    }
    names = list(nodes)
    nir.write(str(path), nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])), type_check=False))


def _snntorch_net(path: Path) -> None:
    """``snntorch_net.nir``: Flatten -> Affine -> LIF -> Affine -> LIF as snnTorch exports Leaky
    neurons (dt 1e-4, tau = dt / (1 - beta), r = tau / dt), on ``events.npz`` frames."""
    import nir

    rng = np.random.default_rng(6)
    dt, beta = 1e-4, 0.9
    tau, r = dt / (1 - beta), 1 / (1 - beta)
    sizes = (2 * SENSOR[0] * SENSOR[1], 32, 3)

    def lif(n):
        return nir.LIF(tau=np.full(n, tau, np.float32), r=np.full(n, r, np.float32), v_leak=np.zeros(n, np.float32),
                       v_threshold=np.ones(n, np.float32), v_reset=np.zeros(n, np.float32))

    nodes = {"input": nir.Input(input_type={"input": np.array([2, *SENSOR])}),
             "flat": nir.Flatten(input_type={"input": np.array([2, *SENSOR])}, start_dim=0)}
    edges, last = [("input", "flat")], "flat"
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        nodes[f"fc{k}"] = nir.Affine(weight=rng.normal(0, 0.5, (b, a)).astype(np.float32), bias=np.zeros(b, np.float32))
        nodes[f"lif{k}"] = lif(b)
        edges += [(last, f"fc{k}"), (f"fc{k}", f"lif{k}")]
        last = f"lif{k}"
    nodes["output"] = nir.Output(output_type={"output": np.array([sizes[-1]])})
    edges.append((last, "output"))
    nir.write(str(path), nir.NIRGraph(nodes=nodes, edges=edges, type_check=False))


def _device_report(path: Path) -> None:
    """``pixel8.json``: the device report the Android demo's report builder wrote on the JVM."""
    shutil.copy(ROOT / "android_demo" / "sample_device_report.json", path)


#: file a README example names -> (what makes it, the path it makes, relative to the folder)
STAND_INS = {
    "model.keras": _keras_model,
    "my_data.npz": _my_data,
    "resnet.onnx": _resnet_onnx,
    "images.npz": _images,
    "events.npz": _events,
    "NMNIST/Test": lambda path: _nmnist(path.parent),
    "sinabs_cnn.nir": lambda path: _conv_if_net(path, 2, SENSOR, 3, 7),
    "nmnist_cnn.nir": lambda path: _conv_if_net(path, 2, (34, 34), 3, 8),
    "snntorch_net.nir": _snntorch_net,
    "pixel8.json": _device_report,
}


def make_stand_ins(text: str, folder: Path) -> list[str]:
    made = []
    for name, make in STAND_INS.items():
        if re.search(rf"(?<![\w/.-]){re.escape(name)}(?![\w-])", text):
            make(folder / name)
            made.append(name)
    return made


# -- running ------------------------------------------------------------------------------------


class ReadmeRun:
    def __init__(self, tmp_path_factory, monkeypatch):
        self.factory, self.monkeypatch = tmp_path_factory, monkeypatch
        self.outputs: dict[str, str] = {}
        self.seconds: dict[str, float] = {}
        self.skipped: list[str] = []

    def folder(self, block: Block) -> Path:
        folder = self.factory.mktemp(f"readme_line{block.line}")
        assert ROOT not in folder.parents, "the README must run outside the repository"
        self.monkeypatch.chdir(folder)
        return folder

    def command(self, command: str, block: Block) -> str:
        argv = shlex.split(command)
        where = f"README.md line {block.line}: `{command}`"
        start = time.perf_counter()
        if argv[0] == "npukit":
            result = CliRunner().invoke(app, argv[1:])
            if result.exit_code != 0:
                detail = (result.stderr or "") + (result.stdout or "")[-2000:]
                if result.exception is not None and not isinstance(result.exception, SystemExit):
                    detail += f" ({type(result.exception).__name__}: {result.exception})"
                pytest.fail(f"{where} exited {result.exit_code}: {detail.strip()[-3000:]}\n(a file the README assumes "
                            f"but nobody makes? add a stand-in to STAND_INS in tests/test_readme.py)", pytrace=False)
            out = result.stdout
        elif argv[0] in NOT_RUN:
            self.skipped.append(f"{command} ({NOT_RUN[argv[0]]})")
            return ""
        else:
            proc = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=600)
            if proc.returncode != 0:
                pytest.fail(f"{where} (run in bash) exited {proc.returncode}: {(proc.stderr + proc.stdout).strip()[-3000:]}",
                            pytrace=False)
            out = proc.stdout
        self.seconds[command] = time.perf_counter() - start
        self.outputs.setdefault(command, out)
        return out

    def python(self, block: Block) -> None:
        start = time.perf_counter()
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                exec(compile(block.text, f"README.md (python block at line {block.line})", "exec"), {"__name__": "__readme__"})
        except Exception as exc:
            pytest.fail(f"README.md python block at line {block.line} raised {type(exc).__name__}: {exc}", pytrace=True)
        self.seconds[f"python block at line {block.line}"] = time.perf_counter() - start


def transcript_mismatch(expected: str, actual: str) -> str | None:
    """None when ``actual`` shows ``expected`` (module docstring), else where it does not."""
    want = expected.rstrip("\n").splitlines()
    got = actual.rstrip("\n").splitlines()
    patterns = [None if line.strip() == "..." else re.compile(_line_pattern(line)) for line in want]
    i = 0
    for k, pattern in enumerate(patterns):
        if pattern is None:
            following = next((p for p in patterns[k + 1:] if p is not None), None)
            if following is None:
                return None
            while i < len(got) and not following.fullmatch(got[i]):
                i += 1
            continue
        if i >= len(got):
            return f"the output ends before README line {want[k]!r}"
        if not pattern.fullmatch(got[i]):
            return f"README line {want[k]!r} differs from the output's {got[i]!r}"
        i += 1
    if i < len(got):
        return f"the output goes on after the README's last line: {got[i]!r}"
    return None


def _line_pattern(line: str) -> str:
    parts = re.split(f"({TIMING})", line)
    return "".join(r"\d+(?:\.\d+)?" if k % 2 else re.escape(part) for k, part in enumerate(parts))


# -- the tests ----------------------------------------------------------------------------------


def test_the_readme_parser_reads_commands_snippets_and_transcripts():
    text = "\n".join([
        "```bash", "npukit a x.keras   # note", "# only a comment", "pip install . && npukit b \\", "    --flag 1", "```",
        "", "`npukit b --flag 1` prints:", "", "```", "out 1.5 s", "...", "end", "```",
        "```python", "print(1)", "```", "```", "a tree, not a transcript", "```",
    ])
    blocks = readme_blocks(text)
    assert [b.kind for b in blocks] == ["bash", "transcript", "python"]
    assert blocks[0].commands == ["npukit a x.keras", "pip install .", "npukit b --flag 1"]
    assert blocks[1].command == "npukit b --flag 1"
    assert transcript_mismatch(blocks[1].text, "out 22.25 s\nmiddle\nmore\nend\n") is None
    assert transcript_mismatch(blocks[1].text, "out 1.5 s\nend\n") is None
    assert "differs" in transcript_mismatch(blocks[1].text, "out 1.5 ms\nend\n")  # a unit is not a timing figure
    assert "differs" in transcript_mismatch("acc 98.33% in 2 s", "acc 98.06% in 3 s")  # only timings may differ
    assert "goes on" in transcript_mismatch("a", "a\nb")
    assert "ends before" in transcript_mismatch("a\nb", "a")


def test_a_command_that_cannot_run_fails_naming_it(tmp_path_factory, monkeypatch):
    block = readme_blocks("```bash\nnpukit inspect my_own_net.keras\n```\n")[0]
    run = ReadmeRun(tmp_path_factory, monkeypatch)
    run.folder(block)
    with pytest.raises(pytest.fail.Exception) as caught:
        run.command(block.commands[0], block)
    message = str(caught.value)
    assert "`npukit inspect my_own_net.keras` exited 2" in message and "does not exist" in message
    assert "STAND_INS" in message


@pytest.mark.slow
def test_every_readme_command_and_snippet_runs_and_transcripts_match(tmp_path_factory, monkeypatch, capsys):
    if not README.is_file():
        pytest.skip("README.md is not beside the tests (an installed copy of the suite): nothing to run")
    blocks = readme_blocks(README.read_text())
    assert any(b.kind == "bash" for b in blocks) and any(b.kind == "python" for b in blocks)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    run = ReadmeRun(tmp_path_factory, monkeypatch)
    start = time.perf_counter()
    for block in blocks:
        if block.kind == "transcript":
            continue
        folder = run.folder(block)
        make_stand_ins(block.text, folder)
        if block.kind == "python":
            run.python(block)
        else:
            for command in block.commands:
                run.command(command, block)
    for block in (b for b in blocks if b.kind == "transcript"):
        if block.command not in run.outputs:
            run.folder(block)
            run.command(block.command, block)
        problem = transcript_mismatch(block.text, run.outputs[block.command])
        assert problem is None, (
            f"README.md line {block.line}: the transcript of `{block.command}` is not its output: {problem}. "
            f"The real output:\n{run.outputs[block.command]}"
        )
    with capsys.disabled():  # the figures the README's test costs, for whoever watches the suite's time
        slowest = sorted(run.seconds.items(), key=lambda kv: -kv[1])[:5]
        print(f"\nREADME: {len(run.seconds)} commands and snippets in {time.perf_counter() - start:.0f} s; slowest: "
              + ", ".join(f"{c} {s:.0f} s" for c, s in slowest) + f"; not run: {'; '.join(run.skipped)}")
