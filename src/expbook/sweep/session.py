"""What one sweep run holds and finds when it starts: the per-repo lock (one sweep at a
time), the baseline's params reader, what earlier runs left in the state (resume: trials to
skip, trials a killed run committed but never recorded), what an interrupted run leaves
behind, and the result `run_sweep` returns.

Used by expbook.sweep.driver.
"""

from __future__ import annotations

import fcntl
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from expbook.errors import ExpbookError
from expbook.registry import yamlio
from expbook.sweep import state as st
from expbook.sweep import workspace
from expbook.sweep.ranking import RankedConfig, rank_trials
from expbook.sweep.record import KEPT, SETTLED, TrialRecord
from expbook.sweep.spec import Spec, params_hash

if TYPE_CHECKING:
    import pygit2

    from expbook.sweep.search import Search


class BestWatcher(Protocol):
    """Told of each finished trial (as its state JSON): expbook.lifecycle.alerts.BestWatch."""

    def seed(self, record: dict[str, Any]) -> None: ...  # a trial of an earlier run
    def offer(self, record: dict[str, Any]) -> bool: ...  # a trial of this run
    def close(self) -> None: ...


@dataclass
class SweepResult:
    name: str
    baseline: str
    trials: list[TrialRecord]
    ranked: list[RankedConfig]
    pareto: list[RankedConfig] = field(default_factory=list)
    skipped: int = 0
    elapsed: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "baseline": self.baseline,
            "trials": [t.to_json() for t in self.trials],
            "best": self.ranked[:10],
            "pareto": self.pareto,
            "skipped": self.skipped,
            "elapsed": round(self.elapsed, 3),
            "warnings": self.warnings,
        }

    @classmethod
    def of(
        cls,
        spec: Spec,
        baseline: str,
        records: list[TrialRecord],
        skipped: int,
        elapsed: float,
        warnings: list[str],
    ) -> SweepResult:
        """The result of a sweep's `records`: trials in number order, configs ranked by the
        spec's metrics (and their Pareto front when there are several)."""
        ranked = rank_trials(records, spec.metrics)
        pareto: list[RankedConfig] = []
        if len(spec.metrics) > 1:
            from expbook.sweep.ranking import pareto_trials

            pareto = pareto_trials(ranked, spec.metrics)
        trials = sorted(records, key=lambda r: r.number or 0)
        return cls(spec.name, baseline, trials, ranked, pareto, skipped, elapsed, warnings)


def _read_params(g: pygit2.Repository, baseline: str) -> Callable[[str], Any]:
    import pygit2

    def read(file: str) -> Any:  # parsed params YAML
        try:
            blob = g.revparse_single(f"{baseline}:{file}")
        except (KeyError, ValueError):
            return None
        if not isinstance(blob, pygit2.Blob):
            return None
        return yamlio.parse_params(f"{baseline[:7]}:{file}", blob.data) or {}

    return read


class _Lock:
    """One sweep at a time per repo (flock: a kill -9 releases it with the process)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(path, "a+")  # noqa: SIM115  (held for the sweep)
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.fh.close()
            raise ExpbookError("another expbook sweep is running in this repository") from None

    def release(self) -> None:
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()


def _recover(
    g: pygit2.Repository, repo: str, spec: Spec, baseline: str, records: list[TrialRecord]
) -> list[TrialRecord]:
    """Trials whose exp ref + note exist but which the state missed (sweep killed meanwhile)."""
    from expbook.registry import notes

    known = {r.name for r in records if r.rev}
    prefix = workspace.exp_ref(baseline, "")
    pattern = re.compile(re.escape(spec.name) + r"-(\d{3,})$")
    out = []
    for ref in g.references:
        if not ref.startswith(prefix):
            continue
        name = ref[len(prefix) :]
        match = pattern.match(name)
        if name in known or not match or int(match.group(1)) < spec.first_number:
            continue  # not a trial of this spec (numbers below first_number: a replaced one)
        sha = str(g.references[ref].peel().id)
        sweep = notes.get(repo, sha).get("sweep") or {}
        other = sweep.get("name") if isinstance(sweep, dict) else None
        if other and other != spec.name and not str(other).startswith(spec.name + "@"):
            raise ExpbookError(  # its trial NNN would replace another sweep's experiment
                f"experiment {ref} is trial {sweep.get('trial')} of sweep {other!r}, not of "
                f"{spec.name!r}: its trials would replace it; use another name"
            )
        if sweep.get("name") != spec.name or "config" not in sweep:
            continue  # not ours, or its note never got written: the trial simply runs again
        out.append(TrialRecord.from_note(sweep, name, sha, ref, baseline))
    return out


@dataclass
class Earlier:
    """What earlier runs of a sweep left: its state ref plus exp refs the state missed."""

    other: list[TrialRecord]  # trials of other baselines: kept in the state as they are
    records: list[TrialRecord]  # this baseline's settled trials (failed ones run again)
    previous: list[TrialRecord]  # those of them that succeeded or were pruned: skipped

    @property
    def done_hashes(self) -> set[str | None]:
        return {r.params_hash for r in self.previous}


def check_identity(
    g: pygit2.Repository, repo: str, spec: Spec, state_name: str, shared: object | None
) -> str | None:
    """Refuse a sweep name git cannot store, or a spec that differs from the one recorded
    under this name (issue 19; with --storage the workers' states are compared too). With
    `spec.force_new` returns the message saying the sweep starts afresh (numbering continues,
    so no earlier trial's ref is overwritten)."""
    from expbook.sweep import identity

    identity.check_name(spec.name)
    parts = [n for n in st.names(repo) if n == spec.name or n.startswith(spec.name + "@")]
    if not parts:
        return _fresh_name(g, spec)
    state = st.load(repo, state_name) if state_name in parts else st.load_merged(repo, spec.name)
    recorded = state.get("spec") or {}
    if not spec.force_new:
        spec.first_number = max(spec.first_number, int(recorded.get("first_number") or 1))
        identity.check_same_spec(spec.name, recorded, spec.to_dict())
        return None
    if shared is not None:
        raise ExpbookError(
            f"--force-new cannot restart sweep {spec.name!r} in a shared --storage study; "
            "use a new --name"
        )
    numbers = [int(t.get("number") or 0) for t in state.get("trials") or []]
    pattern = re.compile(re.escape(spec.name) + r"-(\d{3,})$")
    for ref in g.references:
        match = pattern.match(ref.rsplit("/", 1)[-1]) if ref.startswith("refs/exps/") else None
        if match:
            numbers.append(int(match.group(1)))
    spec.first_number = max(numbers + [spec.first_number - 1]) + 1
    return (
        f"--force-new: sweep {spec.name!r} starts afresh at trial {spec.first_number:03d}; its "
        f"earlier trials stay as experiments and in `git log {st.STATE_PREFIX}{spec.name}`"
    )


def _fresh_name(g: pygit2.Repository, spec: Spec) -> str | None:
    """A sweep never run here (no state ref) owns no `NAME-NNN` experiment: one that exists
    (`dvc exp run -n t-001`, another tool) would have been overwritten by trial 001 (issue 19
    review). Refused, naming it; --force-new numbers the trials after it instead."""
    pattern = re.compile(re.escape(spec.name) + r"-(\d{3,})$")
    taken = sorted(
        (int(m.group(1)), ref)
        for ref in g.references
        if ref.startswith("refs/exps/") and (m := pattern.match(ref.rsplit("/", 1)[-1]))
    )
    if not taken:
        return None
    if not spec.force_new:
        raise ExpbookError(
            f"sweep {spec.name!r} has never run here, but experiment {taken[0][1]} exists"
            f"{f' (and {len(taken) - 1} more)' if len(taken) > 1 else ''}: its trials would "
            "replace it; use another name, or --force-new to number the trials after it"
        )
    spec.first_number = max(spec.first_number, taken[-1][0] + 1)
    return (
        f"--force-new: sweep {spec.name!r} starts at trial {spec.first_number:03d}, after the "
        f"existing experiment {taken[-1][1].rsplit('/', 1)[-1]}"
    )


def earlier_runs(
    g: pygit2.Repository, repo: str, spec: Spec, baseline: str, state_name: str
) -> Earlier:
    old = st.trials(st.load(repo, state_name, missing_ok=True))
    mine = [t for t in old if t.baseline == baseline and (t.number or 0) >= spec.first_number]
    other = [t for t in old if t not in mine]
    # runs an interrupted sweep left queued/running never finished: they run again
    mine = [t for t in mine if t.status in SETTLED]
    mine += _recover(g, repo, spec, baseline, mine)
    # failed trials are retried; their old records stay for history (state only)
    return Earlier(other, mine, [r for r in mine if r.status in KEPT])


def feed(search: Search, spec: Spec, previous: list[TrialRecord], seeds: int) -> set[str]:
    """Previous trials of this baseline go back into the study (resume, not repeat); returns
    the configs (params_hash of the config) that ran with every seed already."""
    by_config: dict[str, list[TrialRecord]] = {}
    for r in previous:
        if r.kind == "trial":
            by_config.setdefault(params_hash(r.config), []).append(r)
    finished = set()
    for key, runs in by_config.items():
        if len(runs) >= seeds:
            finished.add(key)
        if not search.is_grid:
            agg = rank_trials(runs, spec.metrics)
            if agg:
                search.add_finished(runs[0].config, agg[0]["values"], agg[0]["status"])
    return finished


def settle_interrupted(
    g: pygit2.Repository, repo: str, spec: Spec, baseline: str, records: list[TrialRecord]
) -> bool:
    """An interrupted (Ctrl-C, SIGTERM, error) sweep: its queued and running trials become
    "interrupted", so `sweep status` tells the truth; a rerun runs them again. False when
    nothing was open (the state needs no update)."""
    open_ = [r for r in records if r.status in ("queued", "running")]
    if not open_:
        return False
    settled = [r for r in records if r.status not in ("queued", "running")]
    # a trial may have committed its exp ref and note just before the signal arrived
    done = {r.name: r for r in _recover(g, repo, spec, baseline, settled)}
    for rec in open_:
        found = done.get(rec.name)
        if found is not None and found.params_hash == rec.params_hash:
            rec.status, rec.rev, rec.ref = found.status, found.rev, found.ref
            rec.values, rec.error = found.values, None
        else:
            rec.status = "interrupted"
    return True
