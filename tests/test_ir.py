"""IR: validation, shape inference, MAC counts, topological order, lossless and safe files."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from npukit import ir
from npukit.errors import BadInputError
from npukit.files import atomic_write
from npukit.ir.serialize import from_bytes, load, to_bytes


def conv(name, src, cin, cout, k=3, **kw):
    rng = np.random.default_rng(len(name))
    return ir.Conv2D(name, (src,), kernel=rng.normal(size=(k, k, cin, cout)), bias=rng.normal(size=cout), **kw)


def small_graph():
    rng = np.random.default_rng(0)
    nodes = [
        ir.Input("x", (), shape=(9, 9, 2)),
        conv("c1", "x", 2, 4, padding="same"),
        ir.ReLU("r1", ("c1",)),
        ir.DepthwiseConv2D("dw", ("r1",), kernel=rng.normal(size=(3, 3, 4, 2)), bias=rng.normal(size=8), strides=(2, 2), padding="same"),
        ir.MaxPool2D("mp", ("dw",), pool_size=(2, 2), strides=(2, 2), padding="same"),
        ir.AveragePool2D("ap", ("dw",), pool_size=(3, 3), strides=(2, 2), padding="same"),
        ir.Concatenate("cat", ("mp", "ap"), axis=-1),
        ir.Flatten("f", ("cat",)),
        ir.Dense("d", ("f",), kernel=rng.normal(size=(144, 3)), bias=np.zeros(3)),
        ir.Softmax("s", ("d",)),
    ]
    return ir.Graph(nodes, "s", {"note": "test"})


def test_shapes_follow_tensorflow_padding_rules():
    g = small_graph()
    assert g.shapes["c1"] == (9, 9, 4)
    assert g.shapes["dw"] == (5, 5, 8)  # ceil(9 / 2)
    assert g.shapes["mp"] == (3, 3, 8)  # ceil(5 / 2)
    assert g.shapes["ap"] == (3, 3, 8)  # ceil(5 / 2)
    g2 = ir.Graph(
        [ir.Input("x", (), shape=(10, 10, 1)), conv("c", "x", 1, 2, k=3, padding="valid", dilation=(2, 2))], "c"
    )
    assert g2.output_shape == (6, 6, 2)  # 10 - (3 - 1) * 2
    g3 = ir.Graph([ir.Input("x", (), shape=(9, 9, 1)), ir.MaxPool2D("m", ("x",), pool_size=(2, 2), strides=(2, 2))], "m")
    assert g3.output_shape == (4, 4, 1)  # valid: floor((9 - 2) / 2) + 1


def test_concatenate_needs_matching_shapes():
    with pytest.raises(BadInputError, match="differ off axis"):
        ir.Graph(
            [
                ir.Input("x", (), shape=(4, 4, 1)),
                ir.AveragePool2D("a", ("x",), pool_size=(2, 2), strides=(2, 2)),
                ir.Concatenate("c", ("x", "a")),
            ],
            "c",
        )


def test_macs_match_hand_counts():
    g = small_graph()
    macs = g.macs()
    assert macs["c1"] == 9 * 9 * 4 * (3 * 3 * 2)  # outputs x kernel window x input channels
    assert macs["dw"] == 5 * 5 * 8 * (3 * 3)  # each output channel reads one input channel
    assert macs["mp"] == 3 * 3 * 8 * 4
    assert macs["ap"] == 3 * 3 * 8 * 9
    assert macs["d"] == 144 * 3
    assert macs["r1"] == macs["f"] == macs["cat"] == 0


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: ir.Dense("d", ("x",), kernel=np.ones((3, 2)), bias=np.ones(3)), r"bias\.shape=\(3,\)"),
        (lambda: ir.Conv2D("c", ("x",), kernel=np.ones((3, 3, 1)), bias=np.ones(1)), "rank 4"),
        (lambda: ir.Conv2D("c", ("x",), kernel=np.ones((3, 3, 1, 1)), bias=np.ones(1), padding="full"), "padding"),
        (lambda: ir.Conv2D("c", ("x",), kernel=np.ones((3, 3, 1, 1)), bias=np.ones(1), strides=(0, 1)), "strides"),
        (lambda: ir.Dense("d", ("x",), kernel=np.full((2, 2), np.nan), bias=np.ones(2)), "NaN"),
        (lambda: ir.IF("n", ("x",), v_threshold=np.array(-1.0)), "v_threshold must be > 0"),
        (lambda: ir.ReLU("r", ("x",), max_value=-1.0), "max_value"),
        (lambda: ir.Add("a", ("x",)), "at least 2"),
        (lambda: ir.Input("x", (), shape=(0, 3)), "static shape"),
    ],
)
def test_bad_node_fields_raise_one_line_errors(make, message):
    with pytest.raises(BadInputError, match=message) as info:
        make()
    assert "\n" not in str(info.value)


def test_graph_rejects_cycles_unknown_inputs_and_dead_nodes():
    x = ir.Input("x", (), shape=(4,))
    a = ir.Dense("a", ("b",), kernel=np.ones((4, 4)), bias=np.zeros(4))
    b = ir.Dense("b", ("a",), kernel=np.ones((4, 4)), bias=np.zeros(4))
    with pytest.raises(BadInputError, match="cycle"):
        ir.Graph([x, a, b], "b")
    with pytest.raises(BadInputError, match="not in the graph"):
        ir.Graph([x, ir.ReLU("r", ("y",))], "r")
    with pytest.raises(BadInputError, match="do not contribute"):
        ir.Graph([x, ir.ReLU("r", ("x",)), ir.ReLU("s", ("x",))], "r")


def test_topological_order_from_shuffled_nodes():
    g = small_graph()
    shuffled = list(g)[::-1]
    g2 = ir.Graph(shuffled, g.output)
    order = list(g2.nodes)
    for node in g2:
        assert all(order.index(i) < order.index(node.name) for i in node.inputs)


def test_serialization_is_lossless_and_reproducible(tmp_path):
    g = small_graph()
    blob = to_bytes(g)
    g2 = from_bytes(blob)
    assert list(g2.nodes) == list(g.nodes)
    assert g2.meta == g.meta and g2.output == g.output
    for a, b in zip(g, g2):
        assert type(a) is type(b) and a.attributes() == b.attributes()
        for key, value in a.arrays().items():
            assert b.arrays()[key].dtype == value.dtype
            np.testing.assert_array_equal(b.arrays()[key], value)
    assert to_bytes(g2) == blob
    atomic_write(tmp_path / "g.npkit", to_bytes(g))
    assert to_bytes(load(tmp_path / "g.npkit")) == blob


def test_ir_files_refuse_unknown_types_pickles_and_garbage(tmp_path):
    blob = to_bytes(small_graph())
    with pytest.raises(BadInputError, match="not a readable npukit IR file"):
        from_bytes(blob[: len(blob) // 2])
    with pytest.raises(BadInputError, match="not a readable"):
        from_bytes(b"hello world")
    # a node type outside the registry
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    header = np.load(io.BytesIO(entries["__graph__.npy"])).tobytes().replace(b'"Softmax"', b'"os.system"')
    buf = io.BytesIO()
    np.save(buf, np.frombuffer(header, np.uint8))
    entries["__graph__.npy"] = buf.getvalue()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    with pytest.raises(BadInputError, match="unknown node type 'os.system'"):
        from_bytes(out.getvalue())
    # an object array (pickle) is refused by allow_pickle=False
    pick = io.BytesIO()
    np.savez(pick, __graph__=np.array([{"a": 1}], dtype=object))
    with pytest.raises(BadInputError):
        from_bytes(pick.getvalue())
