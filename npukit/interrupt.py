"""Ctrl-C and SIGTERM stop a command before it writes, even when a library swallowed them.

Python turns SIGINT into KeyboardInterrupt wherever the main thread happens to be; code inside
TensorFlow's tracing can catch it there and carry on, so a conversion interrupted at that moment
used to finish and write its output with exit status 0. The CLI installs ``request`` for both
signals: it records the request as well as raising, and every writer of an output file asks
``check`` just before it publishes the file, so a swallowed interrupt still ends the command
("interrupted", exit 130) with nothing written.
"""

from __future__ import annotations

import signal

_pending = False


def request(signum=None, frame=None) -> None:
    """Signal handler: remember the interrupt, then unwind like Ctrl-C."""
    global _pending
    _pending = True
    raise KeyboardInterrupt


def install() -> None:
    """Handle SIGINT and SIGTERM with ``request`` (the CLI calls this; the API leaves signals alone)."""
    signal.signal(signal.SIGINT, request)
    signal.signal(signal.SIGTERM, request)


def check() -> None:
    """Raise KeyboardInterrupt if an interrupt was requested (even if something caught it since)."""
    if _pending:
        raise KeyboardInterrupt
