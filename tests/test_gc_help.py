"""issue 18: `expbook gc --help` said `-w/--where` "Keep experiments matching EXPR", but gc
removed what matched (the help's own example with --yes deleted the best runs). These tests
read the help, run what it says on a real repository, and check that gc does exactly that."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import ROOT
from gc_support import BRANCHED, NOTED, TAGGED, build_sweep_repo, copy_repo, gc
from test_sweep_support import exp_refs, run_cli

pytestmark = pytest.mark.slow
PROTECTED = {TAGGED, NOTED, BRANCHED}


@pytest.fixture
def repo(tmp_path_factory, tmp_path: Path) -> Path:
    return copy_repo(build_sweep_repo(tmp_path_factory), tmp_path / "copy")


def options_help(text: str) -> dict[str, str]:
    """{"--where": "its help text", ...} from click's Options section (wrapping undone)."""
    groups: list[tuple[list[str], list[str]]] = []
    for line in text.split("Options:", 1)[1].splitlines():
        if re.match(r"^  -", line):
            decl, _, helptext = line.strip().partition("  ")
            groups.append((re.findall(r"--[\w-]+", decl), [helptext]))
        elif line.strip() and groups:
            groups[-1][1].append(line.strip())
    return {name: " ".join(" ".join(parts).split()) for names, parts in groups for name in names}


def matching(repo: Path, expr: str) -> set[str]:
    """The experiments `expbook registry --where EXPR` lists (the query gc's options use)."""
    rows = json.loads(run_cli(repo, "registry", "--where", expr, "--format", "json").stdout)
    return {row["name"] for row in rows} & set(exp_refs(repo))


def example(helptext: str) -> str:
    hit = re.search(r'e\.g\. "([^"]+)"', helptext)
    assert hit, f"no example in {helptext!r}"
    return hit.group(1)


def verb(helptext: str) -> str:
    """ "remove" when the help says matches are removed, "keep" when it says they are kept."""
    text = helptext.lower()
    if text.startswith(("keep", "never remove", "spare")):
        return "keep"
    assert text.startswith("remove"), helptext
    return "remove"


@pytest.mark.parametrize(
    "option, expr", [("--where", "val.acc < 0.95"), ("--keep-where", "val.acc >= 0.99")]
)
def test_help_says_what_gc_does(repo, option, expr):
    helps = options_help(gc(repo, "--help").output)
    assert option in helps, f"gc --help has no {option}"
    said = verb(helps[option])
    hits = matching(repo, expr) - PROTECTED
    everything = set(exp_refs(repo))
    assert hits and everything - hits - PROTECTED  # the expression splits the repo
    gc(repo, option, expr, "--yes")
    left = set(exp_refs(repo))
    if said == "remove":
        assert left == everything - hits
    else:
        assert hits <= left and left == hits | PROTECTED


@pytest.mark.parametrize("option", ["--where", "--keep-where"])
def test_the_helps_own_example_does_what_it_says(repo, option):
    helps = options_help(gc(repo, "--help").output)
    expr = example(helps[option])
    hits = matching(repo, expr) - PROTECTED
    assert hits, f"the help's example {expr!r} selects nothing in the test repo"
    out = gc(repo, option, expr).output
    would = {
        ln.split()[0]
        for ln in out.splitlines()
        if ln.startswith("  ") and not ln.startswith("  keep ")
    }
    if verb(helps[option]) == "remove":
        assert would == hits
    else:
        assert not would & hits


def test_docs_say_the_same():
    """docs/gc.md describes --where and --keep-where with the help's words."""
    docs = " ".join((ROOT / "docs" / "gc.md").read_text().split())
    for option in ("--where", "--keep-where"):
        from expbook.cli.gc_cmds import KEEP_WHERE_HELP, WHERE_HELP

        first = (WHERE_HELP if option == "--where" else KEEP_WHERE_HELP).split(",")[0]
        assert first in docs, f"docs/gc.md does not say {first!r}"
