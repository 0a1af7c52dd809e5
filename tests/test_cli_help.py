"""Every `expbook` command in the COMMANDS table loads and documents itself with an Example."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from expbook.cli import COMMANDS, cli


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help_with_an_example(name):
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, (
        f"`expbook {name} --help` failed (module missing?):\n{result.output}"
    )
    assert "Example:" in result.output


def test_top_level_help_lists_the_commands():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in ("registry", "show", "compare", "best", "note", "tag", "plot", "export"):
        assert name in result.output
