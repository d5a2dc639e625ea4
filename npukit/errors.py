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


class InternalError(NpukitError):
    """Something failed that should not have: a bug, or a broken installation."""

    exit_code = 1
