"""The ``mlnb`` command line."""

from mlnotebook.cli._main import UsageError, build_parser, main

__all__ = ["UsageError", "build_parser", "main"]
