"""`expbook reproduce` and `expbook check`: thin click commands over expbook.repro.reproduce / expbook.repro.check.

Run through the `expbook` console script; exit 0 = reproduced/passed, 1 = differs/regressed, 2 = error.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from expbook.cli.options import (
    alert_options,
    force_option,
    format_options,
    out_option,
    repo_option,
    stack,
    where_option,
)
from expbook.cli.printing import json_text
from expbook.cli.repro_text import print_diffs, result_json, say, summarize_many, verdict_line
from expbook.errors import ExpbookError

if TYPE_CHECKING:
    from expbook.repro.selection import Comparison


def comparison_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """`-t/--tolerance`, `-i/--ignore`, `--ignore-out`, `--no-default-ignores` and `--keep`,
    handed to the command as one `comparison` (repro.selection.Comparison: the globs with the
    defaults applied), the keyword arguments of reproduce() and check()."""
    from expbook.repro.reproduce import DEFAULT_IGNORE, DEFAULT_IGNORE_OUT

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from expbook.repro.selection import Comparison, ignore_globs

        use_defaults = not kwargs.pop("no_default_ignores")
        ignore, ignore_out = ignore_globs(
            kwargs.pop("ignore"), kwargs.pop("ignore_out"), use_defaults
        )
        kwargs["comparison"] = Comparison(
            ignore=ignore,
            ignore_out=ignore_out,
            tolerance=kwargs.pop("tolerance"),
            keep=kwargs.pop("keep"),
        )
        return func(*args, **kwargs)

    return stack(
        click.option(
            "--tolerance",
            "-t",
            type=click.FloatRange(min=0),
            default=0.0,
            show_default=True,
            help="Absolute difference allowed per metric (0: exact).",
        ),
        click.option(
            "--ignore",
            "-i",
            multiple=True,
            metavar="GLOBS",
            help="Also ignore metric keys / JSON keys / TSV columns matching these "
            f"globs (comma-separated; defaults: {', '.join(DEFAULT_IGNORE)}).",
        ),
        click.option(
            "--ignore-out",
            multiple=True,
            metavar="GLOBS",
            help="Also ignore outputs (or files in them) matching these globs "
            f"(defaults: {', '.join(DEFAULT_IGNORE_OUT)}).",
        ),
        click.option(
            "--no-default-ignores",
            is_flag=True,
            help="Drop the default --ignore/--ignore-out globs.",
        ),
        click.option(
            "--keep", is_flag=True, help="Leave the temporary worktree in place for inspection."
        ),
    )(wrapper)


@click.command()
@click.argument("exp", required=False)
@repo_option
@click.option(
    "--sample",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Reproduce N experiments picked at random (see --where).",
)
@where_option
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed of --sample.")
@comparison_options
@format_options(out=False, default="table")
@click.option(
    "--only-changed",
    is_flag=True,
    help="Show only rows that differ: neither equal nor ignored (always on with --sample).",
)
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="Show every row, the equal ones too (the table leaves them out by default).",
)
def reproduce(
    exp: str | None,
    repo: str,
    sample: int | None,
    where: str | None,
    seed: int,
    comparison: Comparison,
    fmt: str,
    only_changed: bool,
    verbose: bool,
) -> None:
    """Re-run EXP's pipeline from scratch in a temporary worktree and diff metrics and outputs.

    Runs `dvc repro --force --no-run-cache` with a fresh empty cache (nothing is pulled), then
    compares every metric and every dvc.lock output hash with what EXP recorded. Exit 0 when
    equal within --tolerance, 1 when not, 2 on error. The table shows the rows that differ or
    were ignored, then a one-line verdict (--verbose: every row); it fits the terminal.

    \b
    Example:
        expbook reproduce lr-wd-003
        expbook reproduce main --tolerance 1e-6 --ignore 'epoch_*' --keep
        expbook reproduce --sample 5 --where "sweep = 'lr-wd'"
    """
    from expbook.registry import resolve_commit
    from expbook.repro import reproduce as rp
    from expbook.repro.selection import sample as pick

    if bool(exp) == bool(sample):
        raise ExpbookError("give either EXP or --sample N (with an optional --where)")
    # json: one document on stdout; json/csv: the summary lines go to stderr
    machine = fmt in ("json", "csv")
    if exp:
        sha, name = resolve_commit(repo, exp)
        result = rp.reproduce(repo, sha, name=name, **comparison)
        if fmt == "json":
            click.echo(json_text(result_json(result, only_changed)), nl=False)
        hidden = 0
        if fmt != "json" and result.error is None:
            hidden = print_diffs(result, fmt, changed_only=only_changed, verbose=verbose)
        say(verdict_line(result, hidden), fmt, err=machine)
        if result.workspace:
            click.echo(
                f"worktree kept at {result.workspace} "
                "(remove it with: git worktree remove --force PATH)",
                err=machine,
            )
        sys.exit(result.exit_code)
    assert sample is not None  # either EXP or --sample, checked above
    results = []
    for sha, name in pick(repo, sample, where, seed):
        result = rp.reproduce(repo, sha, name=name, **comparison)
        if result.error is None and fmt != "json":
            print_diffs(result, fmt, changed_only=True, verbose=verbose)
        say(result.summary(), fmt, err=machine)
        results.append(result)
    if fmt == "json":
        data = {
            "results": [result_json(r, True) for r in results],
            "summary": summarize_many(results),
        }
        click.echo(json_text(data), nl=False)
    say(summarize_many(results), fmt, err=machine)
    codes = {r.exit_code for r in results}
    sys.exit(1 if 1 in codes else (2 if 2 in codes else 0))


@click.command()
@repo_option
@click.option("--rev", default="HEAD", show_default=True, help="The commit to reproduce and gate.")
@click.option(
    "--against",
    default=None,
    metavar="REV",
    help="Compare with the metrics committed at REV (default: --rev's own).",
)
@click.option(
    "--fail-if",
    "rules",
    multiple=True,
    metavar="RULE",
    help="Fail when RULE holds; `ref` is the reference value of the rule's metric "
    '(repeatable), e.g. "test.acc < ref - 0.01".',
)
@click.option(
    "--fail-if-worse",
    "worse",
    multiple=True,
    metavar="KEY",
    help="Fail when metric KEY is worse than the reference in its direction (declared in "
    "pyproject.toml, else read from the name: a higher loss, a lower accuracy); repeatable.",
)
@out_option(
    "Write a Markdown report (rules, metrics diff, outputs, plots) to FILE.",
    dest="report",
    aliases=("--report",),
)
@force_option
@alert_options(
    "fail",
    "Run CMD (argv, never a shell) when a --fail-if rule fails: the check as JSON on stdin, "
    "EXPBOOK_CHECK_NAME/EXPBOOK_CHECK_FAILED set; 5 s timeout, never changes the exit code.",
    "POST the same JSON to URL when a rule fails (5 s timeout, failures logged).",
)
@click.option(
    "--html",
    "as_html",
    is_flag=True,
    help="Write --report as one self-contained HTML page instead of Markdown.",
)
@comparison_options
def check(
    repo: str,
    rev: str,
    against: str | None,
    rules: tuple[str, ...],
    worse: tuple[str, ...],
    report: str | None,
    force: bool,
    on_fail: str | None,
    on_fail_url: str | None,
    as_html: bool,
    comparison: Comparison,
) -> None:
    """CI gate: reproduce REV from scratch, verify it matches its dvc.lock/metrics, apply rules.

    Works in a temporary git worktree, so the workspace stays untouched. Exit 0 when REV
    reproduces and no --fail-if rule holds, 1 otherwise, 2 on error.

    \b
    Example:
        expbook check --against main --fail-if "test.acc < ref - 0.01" -o report.md
        expbook check --fail-if "val.loss > ref * 1.05" --tolerance 1e-6
        expbook check --against main --fail-if "test.acc < ref" --on-fail "./page-me.sh"
        expbook check --against main --report check.html --html
        expbook check --against main --fail-if-worse val.loss --fail-if-worse test.acc
    """
    from expbook.lifecycle.alerts import Alerts
    from expbook.registry import resolve_commit
    from expbook.repro import check as ck

    if as_html and not report:
        raise ExpbookError("--html needs --report FILE")

    from expbook.registry import directions
    from expbook.registry.gitrepo import find_root

    # a metric's direction: the project's declaration, else its name; unknown: refused now
    declared = directions.load_declared(find_root(repo))
    rules = (*rules, *(ck.worse_rule(key, declared) for key in worse))
    ck.validate_rules(rules)
    if report:
        from expbook.output import check_output_path

        check_output_path(report, force=force)  # refuse before a long reproduction, not after
    alerts = Alerts.from_options(on_fail, on_fail_url, option="--on-fail")
    sha, name = resolve_commit(repo, rev)
    against_sha = resolve_commit(repo, against)[0] if against else None
    result = ck.check(
        repo,
        sha,
        name=name,
        against=against_sha,
        against_name=against,
        rules=rules,
        declared=declared,
        **comparison,
    )
    text = ck.markdown_report(result)
    if report and as_html:
        from expbook.output import write_output
        from expbook.ui.report import check_html

        write_output(report, check_html(result), force=force)
    elif report:
        ck.write_report(result, report, force=force)
    click.echo(text, nl=False)
    if result.reproduction.workspace:
        click.echo(f"\nworktree kept at {result.reproduction.workspace}")
    if alerts is not None and result.regression:
        alerts.send(*ck.failure_event(result))
    sys.exit(result.exit_code)
