"""issue 20: `expbook --version`, and the version defined in one place (expbook.__version__;
pyproject.toml reads it, never repeats it)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from click.testing import CliRunner

import expbook
from expbook.cli import cli

ROOT = Path(__file__).resolve().parents[1]


def test_version_option_prints_the_package_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"expbook, version {expbook.__version__}\n"
    assert re.fullmatch(r"\d+\.\d+\.\d+(\.dev\d+|rc\d+)?", expbook.__version__)


def test_the_version_is_defined_once():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    dynamic = project["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "expbook.__version__"}
