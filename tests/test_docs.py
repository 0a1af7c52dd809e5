"""The docs site (issue 20): the CLI reference is generated from the click tree and has a
section for every command; `mkdocs build --strict` passes and renders it; README.md stays a
short front page (≤ 300 lines) whose links point at pages that exist.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click
import yaml

from expbook.cli import cli
from expbook.cli.reference import anchor, markdown, walk

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- expbook-cli-reference -->"


def all_commands(command: click.Command, path: tuple[str, ...] = ()):
    """Every visible command path, walked independently of expbook.cli.reference."""
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                yield (*path, name)
                yield from all_commands(sub, (*path, name))


COMMANDS = sorted(all_commands(cli))


def test_every_command_has_a_section_in_the_reference():
    text = markdown()
    assert len(COMMANDS) > 20 and ("init",) in COMMANDS and ("sweep", "run") in COMMANDS
    for path in COMMANDS:
        name = " ".join(path)
        assert f"## `expbook {name}` {{#{anchor(path)}}}" in text, name
        assert f"Usage: expbook {name} " in text, name  # its whole --help follows
        assert f"](#{anchor(path)})" in text, name  # and a row of the summary table
    assert sorted(path for path, _ in walk(cli)) == COMMANDS


def test_the_reference_page_is_the_generated_one():
    """docs/cli.md is a marker the hook replaces; the nav and the hook are configured."""
    assert MARKER in (ROOT / "docs" / "cli.md").read_text()
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)
    assert "docs/hooks/cli_reference.py" in config["hooks"]
    assert config["strict"] == "true"
    assert "cli.md" in yaml.dump(config["nav"])


def test_mkdocs_build_strict_renders_every_command(tmp_path):
    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": str(Path(sys.executable).parent)},
    )
    assert proc.returncode == 0, proc.stderr
    page = (site / "cli" / "index.html").read_text()
    assert MARKER not in page
    for path in COMMANDS:
        assert f'id="{anchor(path)}"' in page, path
    assert (site / "benchmarks" / "index.html").is_file()
    assert "Unreleased" in (site / "changelog" / "index.html").read_text()


def test_the_readme_is_a_short_front_page_with_working_links():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 300
    assert "docs/dashboard.png" in text and "make demo" in text and "make test" in text
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if "://" not in link]
    assert len(local) > 10
    for link in local:
        assert (ROOT / link).exists(), link
