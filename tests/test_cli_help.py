"""The whole `expbook` click tree documents itself and follows one convention (issue 13):
every command (lazily loaded ones and sweep subcommands included) answers -h and --help with an
`Example:`; every Example line and every `expbook ...` line of README.md and of the docs site's
pages (docs/*.md, issue 20) parses with click's parser (no execution); one meaning per short
option; -f/--format always comes with --json.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from expbook.cli import COMMANDS as TABLE
from expbook.cli import cli

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
# the front page and every page of the docs site: their commands must exist as written
DOC_FILES = [README, *sorted((ROOT / "docs").glob("*.md"))]


def walk(command: click.Command, path: tuple[str, ...] = ()):
    """(path, command) for the root and every command below it, depth first."""
    yield path, command
    if isinstance(command, click.Group):
        ctx = click.Context(command, info_name="expbook")
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, f"`expbook {' '.join((*path, name))}` does not load"
            yield from walk(sub, (*path, name))


TREE = dict(walk(cli))
COMMANDS = [p for p in TREE if p]


def parse(args: list[str]) -> click.Context:
    """Parse an expbook command line down to its leaf command, as click would, running nothing."""
    ctx = cli.make_context("expbook", list(args), resilient_parsing=False)
    while isinstance(ctx.command, click.Group):
        group = ctx.command
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        name, sub, rest = group.resolve_command(ctx, rest)
        assert sub is not None and name is not None
        ctx = sub.make_context(name, rest, parent=ctx, resilient_parsing=False)
    return ctx


def command_lines(text: str) -> list[str]:
    """Each `expbook ...` command in shell text: pipes, `;` and comments cut it."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";|&")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    out: list[list[str]] = [[]]
    for token in lexer:
        if token and set(token) <= set(";|&"):
            out.append([])
        else:
            out[-1].append(token)
    return [shlex.join(c) for c in out if c and c[0] == "expbook"]


def help_examples(command: click.Command) -> list[str]:
    lines = (command.help or "").replace("\\\n", " ").split("Example:", 1)
    if len(lines) < 2:
        return []
    return [c for line in lines[1].splitlines() for c in command_lines(line)]


def readme_lines(path: Path = README) -> list[str]:
    """Every `expbook` command in the code blocks of README.md (or of a docs page)."""
    found, inside = [], False
    for line in path.read_text().replace("\\\n", " ").splitlines():
        if line.startswith("```"):
            inside = not inside
        elif inside:
            found += command_lines(line)
    return found


def test_the_walk_reaches_lazy_commands_and_sweep_subcommands():
    assert {(name,) for name in TABLE} <= set(TREE), "a COMMANDS entry names nothing"
    assert {("registry",), ("show",), ("stats",), ("check",)} <= set(TREE)
    assert {("sweep", "run"), ("sweep", "status"), ("sweep", "best")} <= set(TREE)


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_every_command_answers_help_with_an_example(path, flag):
    result = CliRunner().invoke(cli, [*path, flag])
    assert result.exit_code == 0, f"`expbook {' '.join(path)} {flag}`:\n{result.output}"
    assert "Example:" in result.output and "Usage:" in result.output


def test_top_level_help_lists_the_commands():
    result = CliRunner().invoke(cli, ["-h"])
    assert result.exit_code == 0
    for name in ("registry", "show", "compare", "best", "note", "tag", "plot", "export", "sweep"):
        assert name in result.output


EXAMPLES = sorted({line for path in COMMANDS for line in help_examples(TREE[path])})


def test_every_command_shows_an_example_line():
    for path in COMMANDS:
        assert help_examples(TREE[path]), f"`expbook {' '.join(path)}` has no Example line"


def parses_current(line: str) -> None:
    """`line` parses, and uses no deprecated spelling (those are hidden `_deprecated_*` params)."""
    ctx = parse(shlex.split(line)[1:])
    while ctx is not None:
        old = [k for k, v in ctx.params.items() if k.startswith("_deprecated_") and v]
        assert not old, f"{line!r} uses a deprecated option"
        ctx = ctx.parent


@pytest.mark.parametrize("line", EXAMPLES)
def test_every_help_example_parses(line):
    parses_current(line)


DOC_LINES = sorted(
    {(p.relative_to(ROOT).as_posix(), line) for p in DOC_FILES for line in readme_lines(p)}
)


@pytest.mark.parametrize("page, line", DOC_LINES)
def test_every_readme_command_parses(page, line):
    parses_current(line)


def inline_mentions(path: Path = README) -> list[str]:
    """`expbook ...` spans in README (or docs page) prose: names and flags, not always a
    runnable line."""
    return sorted(set(re.findall(r"(?<!`)`(expbook [^`]+)`(?!`)", path.read_text())))


DOC_MENTIONS = sorted(
    {(p.relative_to(ROOT).as_posix(), s) for p in DOC_FILES for s in inline_mentions(p)}
)


@pytest.mark.parametrize("page, span", DOC_MENTIONS)
def test_every_readme_mention_names_real_commands_and_options(page, span):
    """`expbook push/pull REMOTE`, `expbook check --on-fail CMD`: every command named exists,
    and every --flag named is one of its options."""
    span = re.split(r" \\?\| ", span)[0]  # a pipeline (`expbook registry \| less -S` in a table)
    words = span.replace("[", " ").replace("]", " ").split()[1:]
    commands = [cli]
    while words and not words[0].startswith("-"):
        subs = [
            g.get_command(click.Context(g), name)
            for g in commands
            if isinstance(g, click.Group)
            for name in words[0].split("/")
        ]
        found = [sub for sub in subs if sub is not None]
        if not subs:
            break  # a leaf command: the rest are its arguments and options
        if len(found) < len(subs):  # an argument (EXP, SPEC), except right after `expbook`
            assert commands != [cli], f"{span!r}: no command {words[0]!r}"
            break
        commands, words = found, words[1:]
    # a group given options (`expbook sweep SPEC --backend ray`) passes them to a subcommand
    commands += [
        sub
        for g in commands
        if isinstance(g, click.Group)
        for sub in (g.get_command(click.Context(g), n) for n in g.list_commands(click.Context(g)))
        if sub is not None
    ]
    for word in words:
        if word.startswith("-") and word != "-":
            flag = word.split("=", 1)[0].rstrip(",.;:")
            assert any(flag in o.opts + o.secondary_opts for c in commands for o in c.params), (
                f"{span!r}: {flag} is not an option of it"
            )


def test_readme_has_commands_to_check():
    assert len(readme_lines()) >= 15
    assert {page for page, _ in DOC_LINES} >= {"README.md", "docs/getting-started.md"}
    assert len(DOC_LINES) > 60


def _options(command: click.Command) -> list[click.Option]:
    return [p for p in command.params if isinstance(p, click.Option) and not p.hidden]


def test_one_meaning_per_short_option():
    """`-n` was --top on some commands and --trials on `sweep`, `-b` a commit and a group."""
    meaning: dict[str, set[str]] = {}
    for command in TREE.values():
        for option in _options(command):
            long = next((o for o in option.opts if o.startswith("--")), option.name)
            for short in (
                o for o in option.opts + option.secondary_opts if re.fullmatch(r"-\w", o)
            ):
                meaning.setdefault(short, set()).add(long)
    clashes = {short: longs for short, longs in meaning.items() if len(longs) > 1}
    assert not clashes


def test_every_format_option_is_the_shared_one():
    """-f/--format on a command means the shared choice list and comes with --json."""
    with_format = []
    for path, command in TREE.items():
        names = {o for option in _options(command) for o in option.opts}
        if "--format" in names or "--json" in names:
            with_format.append(path)
            assert {"-f", "--format", "--json"} <= names, path
        if "--out" in names or "-o" in names:
            assert {"-o", "--out", "--output"} <= names, path
    assert {("registry",), ("show",), ("compare",), ("best",), ("stats",)} <= set(with_format)
    assert {("reproduce",), ("sweep", "run"), ("sweep", "status"), ("sweep", "best")} <= set(
        with_format
    )


@pytest.mark.parametrize(
    "args, old, new",
    [
        (["plot", "val/acc", "--group", "train.lr", "-o", "x.png"], "--group", "--group-by"),
        (["stats", "-m", "acc", "-b", "train.lr=0.1"], "--baseline/-b", "--control"),
        (["sweep", "-S", "train.lr=0.1,0.2", "-n", "3"], "-n", "--trials"),
    ],
)
def test_deprecated_spellings_still_parse_and_warn(tmp_path, args, old, new):
    """Renamed flags keep working for one release with a warning on stderr (here the command
    then stops at the missing repository, having written nothing)."""
    parse(args)
    result = CliRunner().invoke(cli, [*args, "--repo", str(tmp_path / "none")])
    assert f"warning: {old} is deprecated" in result.stderr and new in result.stderr
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_json_and_a_different_format_are_refused():
    result = CliRunner().invoke(cli, ["registry", "--json", "-f", "csv"])
    assert result.exit_code == 2 and "--json" in result.output
