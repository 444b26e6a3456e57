"""The `driftwise` command line, run in the test's own process."""

from __future__ import annotations

from click.testing import CliRunner

from monitor.cli import main


def run_cli(*args: str) -> str:
    """`driftwise <args>`, which must exit 0; its output."""
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output
