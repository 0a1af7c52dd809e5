"""The CI gate: reproduce a commit from scratch, then test its metrics against a reference with rules.

Used by `expbook check`; rules such as "test.acc < ref - 0.01" are parsed by expbook.query, never eval'd.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from expbook.errors import QueryError
from expbook.query import compile_where, keys_of, parse, resolve_key
from expbook.registry import directions
from expbook.registry.dvcfiles import flatten_file
from expbook.repro.reproduce import (
    DEFAULT_IGNORE,
    DEFAULT_IGNORE_OUT,
    Reproduction,
    reproduce,
    rev_parse,
)

REF = "ref"  # in a rule, the reference value of the rule's metric


@dataclass
class RuleResult:
    rule: str
    metric: str | None
    value: Any
    reference: Any
    failed: bool | None  # None: not evaluable (a value is missing)

    @property
    def status(self) -> str:
        return {True: "FAILED", False: "passed", None: "n/a (value missing)"}[self.failed]


@dataclass
class CheckResult:
    reproduction: Reproduction
    against: str  # the reference rev as given
    against_sha: str
    reference: dict[str, Any] = field(default_factory=dict)
    rules: list[RuleResult] = field(default_factory=list)
    # the project's [tool.expbook.directions]: the report marks a metric's move better/worse
    declared: dict[str, str] = field(default_factory=dict)

    @property
    def regression(self) -> bool:
        return any(r.failed for r in self.rules)

    @property
    def exit_code(self) -> int:
        if self.reproduction.error:
            return 2
        return 1 if self.regression or not self.reproduction.ok else 0

    @property
    def passed(self) -> bool:
        return self.exit_code == 0


def validate_rules(rules: Iterable[str]) -> list[str]:
    """Parse every rule up front so a typo fails before minutes of `dvc repro`."""
    out = []
    for rule in rules:
        try:
            tree = parse(rule)
        except QueryError as err:
            raise QueryError(f"--fail-if {rule!r}: {err}") from err
        names = [k for k in keys_of(tree) if k != REF]
        if not names:
            raise QueryError(f"--fail-if {rule!r} names no metric")
        out.append(rule)
    return out


def worse_rule(key: str, declared: Mapping[str, str] | None = None) -> str:
    """`--fail-if-worse KEY` as a rule: "KEY < ref" when higher is better, "KEY > ref" when
    lower is (registry.directions: the declaration, else the name). An unknown direction is
    a DirectionError, raised before anything is reproduced."""
    found = directions.resolve(key, None, declared)
    name = key if re.fullmatch(r"[A-Za-z_][\w.]*", key) else f"`{key.strip('`')}`"
    if not found.known:
        raise directions.DirectionError(
            f"--fail-if-worse {key!r}: cannot tell whether a higher or lower {key!r} is worse; "
            f"declare it in {directions.DECLARATION_FILE} ([{directions.DECLARATION_TABLE}] "
            f'"{key}" = "min") or write the rule: --fail-if "{name} > ref"'
        )
    return f"{name} {'<' if found.mode == 'max' else '>'} ref"


def evaluate_rule(rule: str, current: dict[str, Any], reference: dict[str, Any]) -> RuleResult:
    """True when the rule fires (a regression); `ref` is the reference value of the rule's metric."""
    tree = parse(rule)
    keys = keys_of(tree)
    columns = list(dict.fromkeys([*current, *reference]))
    metrics = list(dict.fromkeys(resolve_key(k, columns) for k in keys if k != REF))
    if REF in keys and len(metrics) != 1:
        raise QueryError(
            f"--fail-if {rule!r}: `ref` needs exactly one metric in the rule, "
            f"found {', '.join(metrics)}"
        )
    metric = metrics[0] if len(metrics) == 1 else None
    row = dict(current)
    row[REF] = reference.get(metric) if metric else None
    needed = metrics + ([REF] if REF in keys else [])
    if any(row.get(k) is None for k in needed):
        return RuleResult(rule, metric, current.get(metric) if metric else None, row[REF], None)
    fired = compile_where(rule, [*columns, REF])(row)
    return RuleResult(rule, metric, current.get(metric) if metric else None, row[REF], fired)


def reference_metrics(repo: str | os.PathLike[str], rev: str) -> dict[str, Any]:
    """The metrics committed at `rev` (read by DVC from git, or the local cache for cached ones)."""
    from dvc.repo import Repo

    sha = rev_parse(repo, rev)
    out: dict[str, Any] = {}
    with Repo(str(repo)) as dvc_repo:
        result = dvc_repo.metrics.show(revs=[sha])
    for path, entry in result.get(sha, {}).get("data", {}).items():
        if "data" in entry:
            flatten_file(path, entry["data"], out)
    return out


def check(
    repo: str | os.PathLike[str] = ".",
    rev: str = "HEAD",
    *,
    name: str | None = None,
    against: str | None = None,
    against_name: str | None = None,
    rules: Iterable[str] = (),
    ignore: Iterable[str] = DEFAULT_IGNORE,
    ignore_out: Iterable[str] = DEFAULT_IGNORE_OUT,
    tolerance: float = 0.0,
    keep: bool = False,
    declared: Mapping[str, str] | None = None,
) -> CheckResult:
    """Reproduce `rev` in a worktree (the workspace is never touched), then apply `rules`
    to its reproduced metrics versus `against`'s committed metrics (default: `rev`'s own).
    `declared`: the project's metric directions, for the report's better/worse marks."""
    rules = validate_rules(rules)
    against_rev = against or rev
    against_sha = rev_parse(repo, against_rev)
    reference = reference_metrics(repo, against_sha) if against else None
    result = reproduce(
        repo, rev, name=name, ignore=ignore, ignore_out=ignore_out, tolerance=tolerance, keep=keep
    )
    out = CheckResult(
        result, against_name or (against_rev if against else (name or rev)), against_sha
    )
    out.declared = dict(declared or {})
    if result.error:
        return out
    out.reference = reference if reference is not None else dict(result.recorded_metrics)
    out.rules = [evaluate_rule(rule, result.reproduced_metrics, out.reference) for rule in rules]
    return out


def failure_event(res: CheckResult) -> tuple[dict[str, Any], dict[str, str]]:
    """(event JSON, env vars) for `--on-fail` alerts: which rules failed, values, reference."""
    from expbook import env

    failed = [r for r in res.rules if r.failed]
    event = {
        "event": "check_failed",
        "name": res.reproduction.name,
        "rev": res.reproduction.rev,
        "against": res.against,
        "against_rev": res.against_sha,
        "reproduced": res.reproduction.ok,
        "exit_code": res.exit_code,
        "failed_rules": [
            {"rule": r.rule, "metric": r.metric, "value": r.value, "reference": r.reference}
            for r in failed
        ],
    }
    names = {
        env.CHECK_NAME: res.reproduction.name,
        env.CHECK_FAILED: "; ".join(r.rule for r in failed),
    }
    return event, names


# ---------------------------------------------------------------- report
def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value).replace("|", "\\|")


def _delta(a: Any, b: Any, direction: directions.Direction | None = None) -> str:
    """b - a; "(better)"/"(worse)" after it when the metric's direction is known."""
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b))
    if not numeric:
        return "—"
    mark = ""
    if direction is not None and direction.known and a != b:
        mark = " (better)" if direction.better(b, a) else " (worse)"
    return f"{b - a:+.6g}{mark}"


def markdown_report(res: CheckResult) -> str:
    """A Markdown summary for a pull-request comment: verdict, rules, metrics diff, outputs, plots."""
    rep = res.reproduction
    verdict = "✅ passed" if res.passed else ("⚠️ error" if rep.error else "❌ failed")
    lines = [
        f"## expbook check: {verdict}",
        "",
        f"- reproduced `{rep.rev[:7]}` from scratch: {rep.summary().split(': ', 1)[-1]}",
        f"- reference: committed metrics of `{res.against}` (`{res.against_sha[:7]}`)",
    ]
    if rep.error:
        lines += ["", "```", rep.error, "```"]
        return "\n".join(lines) + "\n"
    if res.rules:
        lines += [
            "",
            "### Rules",
            "",
            "| rule | metric | value | reference | result |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| `{r.rule}` | {_fmt(r.metric)} | {_fmt(r.value)} | {_fmt(r.reference)} | "
            f"{'**FAILED**' if r.failed else r.status} |"
            for r in res.rules
        ]
    status = {d.key: d for d in rep.diffs if d.kind == "metric"}
    keys = sorted(set(rep.reproduced_metrics) | set(res.reference))
    lines += [
        "",
        "### Metrics",
        "",
        "| metric | reference | reproduced | Δ vs reference | reproduction |",
        "|---|---|---|---|---|",
    ]
    for key in keys:
        ref, new = res.reference.get(key), rep.reproduced_metrics.get(key)
        diff = status.get(key)
        lines.append(
            f"| {key} | {_fmt(ref)} | {_fmt(new)} | "
            f"{_delta(ref, new, directions.resolve(key, None, res.declared))} | "
            f"{diff.status if diff else '—'} |"
        )
    outs = [d for d in rep.diffs if d.kind == "out"]
    if outs:
        lines += [
            "",
            "### Outputs",
            "",
            "| output | recorded | reproduced | status |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {d.key} | `{_fmt(d.recorded)}` | `{_fmt(d.reproduced)}` | {d.status} |"
            for d in outs
        ]
    if rep.plots:
        lines += ["", "### Plots", ""] + [f"- `{p}`" for p in rep.plots]
    return "\n".join(lines) + "\n"


def write_report(res: CheckResult, path: str | os.PathLike[str], *, force: bool = False) -> None:
    from expbook.output import write_output

    write_output(path, markdown_report(res), force=force)  # a refused path: ExpbookError
