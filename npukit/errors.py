"""The errors npukit raises.

Every failure a user can cause (a bad file, bad data, an absurd flag, an unsupported layer) is a
``BadInputError`` with a one-line message naming the problem; the CLI prints it and exits with
code 2. ``InternalError`` marks a bug or an environment fault (exit code 1). Library code never
calls ``sys.exit``: only ``npukit.cli`` turns these into exit codes.
"""

from __future__ import annotations


class NpukitError(Exception):
    """Base class of every error npukit raises on purpose."""

    exit_code = 1

    def __init__(self, message: str):
        # One line only: the CLI prints the message as is.
        super().__init__(" ".join(str(message).split()))


class BadInputError(NpukitError):
    """The user's input is wrong: file, data, option value or model content."""

    exit_code = 2


class UnsupportedError(BadInputError):
    """The input is valid but uses something npukit does not convert (a layer, an option)."""


def show(value) -> str:
    """A value as a user wrote it, for messages: 8, not np.int32(8); (1, 2), not
    (np.int64(1), np.int64(2))."""
    if isinstance(value, (tuple, list)):
        inner = ", ".join(show(v) for v in value)
        return f"({inner}{',' if len(value) == 1 else ''})" if isinstance(value, tuple) else f"[{inner}]"
    item = getattr(value, "item", None)
    if item is not None and getattr(value, "ndim", None) == 0:  # a numpy scalar
        value = item()
    return repr(value)


class InternalError(NpukitError):
    """Something failed that should not have: a bug, or a broken installation."""

    exit_code = 1
