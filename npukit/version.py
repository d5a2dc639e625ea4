"""npukit's version, in one place: the package, the CLI and every file npukit writes read it here."""

__version__ = "0.1.0"
