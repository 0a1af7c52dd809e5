"""`expbook verify`: re-hash experiments' cached outputs against their dvc.lock md5s.

Thin click command over expbook.repro.verify; run through `expbook`.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from expbook.cli.options import format_options, repo_option, selection_options
from expbook.cli.printing import emit_data

if TYPE_CHECKING:
    from expbook.repro.verify import Report


@click.command()
@click.argument("exps", nargs=-1)
@selection_options
@repo_option
@format_options
def verify(
    exps: tuple[str, ...],
    baseline: str | None,
    all_commits: bool,
    repo: str,
    fmt: str | None,
    output: str | None,
    force: bool,
) -> None:
    """Re-hash the cached outputs (checkpoints, data) of experiments against dvc.lock.

    Lists every output whose object in the local DVC cache is corrupt or missing (directory
    outputs file by file) and exits 1 when there is any; 0 when all match. Without EXPS: every
    experiment `expbook registry` lists (with -b/-A as there).

    \b
    Example:
        expbook verify
        expbook verify lr-wd-003 main --json
    """
    from expbook import registry
    from expbook.output import format_for
    from expbook.repro.verify import verify_experiments

    fmt = format_for(fmt, output)
    if exps:
        experiments = registry.resolve_many(repo, exps)
    else:
        experiments = registry.collect(repo, all_commits=all_commits, baseline=baseline)
    report = verify_experiments(repo, experiments)
    emit_data(
        fmt,
        output,
        data=report.to_json,
        rows=lambda: ([vars(p) for p in report.problems], ["exp", "path", "kind", "detail"]),
        text=lambda: _text(report, len(experiments)),
        force=force,
    )
    if not report.ok:
        sys.exit(1)


def _text(report: Report, n_exps: int) -> str:
    lines = [str(p) for p in report.problems]
    state = "all match dvc.lock" if report.ok else f"{len(report.problems)} problem(s)"
    lines.append(f"{n_exps} experiment(s), {report.checked} cache object(s) hashed: {state}")
    return "\n".join(lines) + "\n"
