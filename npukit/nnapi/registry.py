"""Named NN-API checks: a check function registered together with what it tests.

A rule row of ``npukit.nnapi.rules`` names its conditions, e.g. ``("max_rank", "in", (0, 1), 4)``;
the name selects a function registered here with :func:`check`, the rest are its arguments. The
registration carries the check's text and, for checks with arguments, how one use of it reads
(``npukit check --list-rules`` prints that line), so a check is one unit: function, text,
argument description. ``npukit.nnapi.conditions`` registers all of them.

A check function is called as ``fn(op, level, *args)`` with an :class:`OpView` and the level
being checked; it returns None when the operator passes, else the reason (one short sentence).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

from npukit.nnapi.levels import F32, Q8
from npukit.tflite_file import TFLiteModel


class OpView:
    """One operator of a model with easy access to its tensors, for the check functions."""

    def __init__(self, model: TFLiteModel, index: int):
        self.model = model
        self.op = model.operators[index]
        self.options = self.op.options or {}

    def tensor(self, k: int, side: str = "in"):
        ids = self.op.inputs if side == "in" else self.op.outputs
        if k >= len(ids) or ids[k] < 0:
            return None
        return self.model.tensors[ids[k]]

    def dtype(self, k: int, side: str = "in") -> str | None:
        t = self.tensor(k, side)
        return None if t is None else t.dtype

    def rank(self, k: int, side: str = "in") -> int | None:
        t = self.tensor(k, side)
        return None if t is None else len(t.shape)

    @property
    def n_inputs(self) -> int:
        return len([i for i in self.op.inputs if i >= 0])

    def activation_none(self) -> bool:
        return self.options.get("fusedActivationFunction", 0) == 0

    def hybrid(self) -> bool:
        return self.dtype(0) == F32 and any(self.dtype(k) in Q8 for k in range(1, len(self.op.inputs)))


CheckFn = Callable[..., "str | None"]


@dataclass(frozen=True)
class Check:
    """A registered check: ``fn(op, level, *args)``, its text and its argument description."""

    name: str
    fn: CheckFn
    text: str
    describe_args: Callable[..., str] | None = None

    def describe(self, *args) -> str:
        """One use of the check in words (a line of ``npukit check --list-rules``)."""
        return self.describe_args(*args) if self.describe_args else self.text

    def accepts(self, args: tuple) -> bool:
        """Whether a rule row's arguments fit the function's signature."""
        try:
            inspect.signature(self.fn).bind(None, 0, *args)
        except TypeError:
            return False
        return True


#: every registered check by name
CHECKS: dict[str, Check] = {}


def check(name: str, text: str, describe: Callable[..., str] | None = None):
    """Register the decorated function as the check ``name`` with its ``text``.

    ``describe(*args)`` says in words what one use of the check with those arguments tests;
    without it the text is used. A name registered twice is a programming error.
    """

    def register(fn: CheckFn) -> CheckFn:
        if name in CHECKS:
            raise ValueError(f"NN-API check {name!r} is registered twice ({CHECKS[name].fn.__qualname__}, {fn.__qualname__})")
        CHECKS[name] = Check(name, fn, text, describe)
        fn.__doc__ = fn.__doc__ or f"NN-API check {name!r}: {text}."  # help() shows the registered text
        return fn

    return register
