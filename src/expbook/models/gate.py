"""The promotion gate of `expbook model assign --require-check RULE` (issue 22): `expbook
check`'s rules, evaluated on the recorded metrics of the version's experiment against a
reference, before the stage tag is written; a rule that holds (or cannot be evaluated, a value
missing) refuses the promotion and no tag is written.

No reproduction: `expbook check` has none without one (it re-runs the pipeline), so the gate
evaluates its rules (expbook.repro.check.evaluate_rule: `--fail-if` syntax, `ref` the
reference value) on the metrics the registry recorded. The reference is `--against` (any
name the registry resolves), else the version the stage points at now, else (an empty stage)
the version's own metrics, as `expbook check` without `--against`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from expbook.errors import QueryError
from expbook.registry.modeltags import ModelError

if TYPE_CHECKING:
    from expbook.registry.experiment import Experiment
    from expbook.registry.gitrepo import GitRepo
    from expbook.registry.modelstate import Model, Version
    from expbook.repro.check import RuleResult

OPTION = "--require-check"


def _renamed(err: QueryError) -> QueryError:
    # check's messages name its own option; here the rule came from --require-check
    return QueryError(str(err).replace("--fail-if ", f"{OPTION} ", 1))


def validate(rules: Sequence[str]) -> list[str]:
    """Parse every rule up front (a typo is an error before the registry is read)."""
    from expbook.repro.check import validate_rules

    try:
        return validate_rules(rules)
    except QueryError as err:
        raise _renamed(err) from None


@dataclass
class GateResult:
    """The rules evaluated for one promotion: `against` says what `ref` was."""

    version: str  # `cnn@v0.1.0`
    stage: str
    against: str
    rules: list[RuleResult]

    @property
    def blocking(self) -> list[RuleResult]:
        """Rules that hold (`failed`) or could not be evaluated (`failed` None)."""
        return [r for r in self.rules if r.failed is not False]

    def lines(self) -> list[str]:
        return [f"{OPTION} {r.rule!r}: {_said(r)}" for r in self.rules]

    def as_dict(self) -> dict[str, Any]:
        return {
            "against": self.against,
            "passed": not self.blocking,
            "rules": [
                {
                    "rule": r.rule,
                    "metric": r.metric,
                    "value": r.value,
                    "reference": r.reference,
                    "status": r.status,
                }
                for r in self.rules
            ],
        }


def _said(r: RuleResult) -> str:
    from expbook.query import keys_of, parse
    from expbook.repro.check import REF

    values = f"{r.metric} {r.value}" if r.metric else "no single metric"
    uses_ref = REF in keys_of(parse(r.rule))
    ref = f", ref {r.reference}" if uses_ref and r.reference is not None else ""
    if r.failed is None:
        return f"cannot be evaluated, a value is missing ({values}{ref}): refused"
    return f"{'holds: refused' if r.failed else 'passed'} ({values}{ref})"


def evaluate(
    repo: GitRepo,
    model: Model,
    version: Version,
    stage: str,
    rules: Sequence[str],
    against: str | None = None,
) -> GateResult:
    """Evaluate `rules` for promoting `version` of `model` to `stage` (see the module)."""
    from expbook.registry.lookup import resolve
    from expbook.registry.rows import collect
    from expbook.repro.check import evaluate_rule

    rows = collect(repo.root)
    by_commit: dict[str, Experiment] = {r.rev: r for r in rows if r.kind != "workspace"}
    row = by_commit.get(version.commit)
    current = row.metrics if row is not None else {}
    if against is not None:
        ref_row = resolve(repo.root, against, rows)
        reference, said = ref_row.metrics, f"{against} ({ref_row.rev[:7]})"
    else:
        incumbent = model.stage(stage)
        if incumbent is not None and incumbent.commit != version.commit:
            held = by_commit.get(incumbent.commit)
            reference = held.metrics if held is not None else {}
            said = f"{model.name}@{incumbent.name}, in {stage} now"
        else:
            reference, said = current, f"its own recorded metrics ({stage} is empty)"
    try:
        results = [evaluate_rule(rule, current, reference) for rule in rules]
    except QueryError as err:
        raise _renamed(err) from None
    return GateResult(f"{model.name}@{version.name}", stage, said, results)


def require(
    repo: GitRepo,
    model: Model,
    version: Version,
    stage: str,
    rules: Sequence[str],
    against: str | None = None,
) -> GateResult:
    """evaluate(), raising ModelError (nothing written) when a rule blocks the promotion."""
    result = evaluate(repo, model, version, stage, rules, against)
    if result.blocking:
        said = "; ".join(f"{r.rule!r} {_said(r)}" for r in result.blocking)
        raise ModelError(
            f"not assigning {stage!r} to {result.version}: {OPTION} against {result.against}: "
            f"{said}; no tag written"
        )
    return result
