"""What the dashboard's pages show, as JSON-able dicts: one experiment, a comparison, step
curves of many runs, seed-group statistics, sweeps (trials, best so far, Pareto front, optuna
param importance). Each is a thin layer over expbook's analysis, registry and sweep code.

Used by expbook.ui.server (the `/api/...` endpoints) and expbook.ui.report.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from expbook.analysis import compare as cmp
from expbook.analysis import stats as st
from expbook.analysis.curves import read_curves
from expbook.errors import ExpbookError, NotFoundError
from expbook.ui import files, live, modelview
from expbook.ui.data import RepoData

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

    from expbook.registry import Experiment
    from expbook.sweep.plan import Metric
    from expbook.sweep.record import TrialRecord

MAX_RUNS = 2000  # runs per curves request (no cap of 7 like DVC's VS Code plots)
MAX_POINTS = 5000
MAX_SWEEP_CURVES = 200  # the latest trials' curves on a sweep page  # points per curve sent to the browser (evenly thinned beyond)


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def commands(exp: Experiment) -> list[str]:
    """The shell commands that act on this row (shown on its page, copied by the user)."""
    out = [f"expbook show {exp.name}"]
    if exp.kind == "experiment":
        out += [
            " ".join(cmp.dvc_handover("apply", exp)),
            f"dvc exp branch {exp.name} {exp.name}-branch",
        ]
    if exp.rev != "workspace":
        out.append(f"expbook reproduce {exp.name}")
    return out


def experiment(data: RepoData, name: str) -> dict[str, Any]:
    """Everything about one row: `expbook show`'s dict plus its images, plots and commands."""
    exp = data.find(name)
    info = cmp.describe(data.root, exp)
    info["row"] = exp.to_dict()
    info["media"] = files.list_media(data.root, exp)
    info["commands"] = commands(exp)
    info["curve_names"] = sorted(info.get("curves") or {})
    info["baseline_diff"] = baseline_diff(data, exp)
    info["models"] = modelview.models_at(data.root, exp.rev) if exp.rev != "workspace" else []
    if exp.status in ("running", "failed"):  # what DVC's executor files say (its output)
        run = live.find(live.scan(data.root), exp.name)
        info["live"] = run.to_json() if run else None
    if exp.status == "running":
        info["curve_names"] = sorted(curves_of(data, exp.rev, exp))
    return info


def baseline_diff(data: RepoData, exp: Experiment) -> dict[str, Any]:
    """{param: the baseline's value} for each param that differs from the commit it ran on
    (a key the baseline lacks maps to None); {} for a baseline itself."""
    if not exp.baseline or exp.baseline == exp.rev or exp.kind not in ("experiment", "workspace"):
        return {}
    base = data.snapshot().by_name.get(exp.baseline)
    if base is None or base is exp:
        return {}
    keys = dict.fromkeys([*exp.params, *base.params])
    return {k: base.params.get(k) for k in keys if exp.params.get(k) != base.params.get(k)}


def live_curves(root: str | None) -> dict[str, Any]:
    """The step curves a running stage has written so far under its working directory."""
    if not root:
        return {}
    try:
        found = read_curves(root, "workspace")
    except (ExpbookError, OSError):
        return {}
    return {
        name: _thin({"steps": c.steps, "values": c.values, "timestamps": c.timestamps})
        for name, c in found.items()
    }


def curves_of(data: RepoData, rev: str, exp: Experiment | None = None) -> dict[str, Any]:
    """All step curves of one commit (cached: a commit never changes; the workspace does);
    a running row's are read from where its stage writes them (it has no commit yet)."""
    if exp is not None and exp.status == "running":
        run = live.find(live.scan(data.root), exp.name)
        if run is not None:
            return live_curves(run.root)
    cached = data.curves.get(rev) if rev != "workspace" else None
    if cached is not None:
        return cached
    try:
        found = read_curves(data.root, rev)
    except ExpbookError:
        found = {}
    out = {
        name: {"steps": c.steps, "values": c.values, "timestamps": c.timestamps}
        for name, c in found.items()
    }
    if rev != "workspace":
        if len(data.curves) > 4096:
            data.curves.clear()
        data.curves[rev] = out
    return out


def _thin(series: dict[str, Any]) -> dict[str, Any]:
    n = len(series["steps"])
    if n <= MAX_POINTS:
        return series
    step = n / MAX_POINTS
    keep = sorted({int(i * step) for i in range(MAX_POINTS)} | {n - 1})
    return {k: [v[i] for i in keep] for k, v in series.items()}


def curves(data: RepoData, names: Sequence[str], metric: str | None) -> dict[str, Any]:
    """Step curves of `metric` for the named runs: {metrics, metric, series: [...]}; the
    metric defaults to the first curve name they share (a loss if there is one)."""
    if len(names) > MAX_RUNS:
        raise ExpbookError(f"at most {MAX_RUNS} runs per request, got {len(names)}")
    exps = [data.find(n) for n in names]
    per_run = [(exp, curves_of(data, exp.rev, exp)) for exp in exps]
    available = sorted({k for _, c in per_run for k in c})
    if metric is None or metric == "":
        losses = [m for m in available if "loss" in m]
        metric = (losses or available or [""])[0] or None
    elif metric not in available and available:
        raise NotFoundError(f"no step curve {metric!r}; curves are: {', '.join(available)}")
    series = []
    for exp, found in per_run:
        if metric in found:
            params = {k: v for k, v in exp.params.items()}
            series.append(
                {"name": exp.name, "rev": exp.rev, "params": params, **_thin(found[metric])}
            )
    from expbook.ui.titles import curve_titles  # dvc.yaml's `title:` of the curves (issue 21)

    rev = exps[0].rev if exps else "workspace"
    titles = curve_titles(data.root, rev, available)
    return {"metrics": available, "metric": metric, "series": series, "titles": titles}


def compare(data: RepoData, names: Sequence[str]) -> dict[str, Any]:
    """Differing params and metric deltas vs the first run (`expbook compare`)."""
    exps = [data.find(n) for n in names]
    return cmp.compare(exps)


_GROUP_FIELDS = [
    f.name for f in dataclasses.fields(st.GroupStats) if f.name not in ("params", "seeds", "revs")
]


def stats(
    exps: Sequence[Experiment], metric: str, group: Sequence[str], baseline: str | None
) -> dict[str, Any]:
    """Seed groups of the given rows with n, mean, CI and p-values vs a baseline (`expbook stats`)."""
    rows, params, metrics = st.rows_of(exps)
    if not rows:
        return {"metric": metric, "groups": [], "group_keys": [], "skipped": []}
    res = st.group_stats(
        rows,
        metric,
        params,
        group_by=list(group) or None,
        baseline=baseline or None,
        metric_keys=metrics,
    )
    return {
        "metric": res.metric,
        "group_keys": res.group_keys,
        "seed_keys": res.seed_keys,
        "alpha": res.alpha,
        "skipped": res.skipped,
        # GroupStats.row() deep-copies via asdict: 1,000 groups cost 0.4 s that way
        "groups": [
            {"group" if k == "label" else k: getattr(g, k) for k in _GROUP_FIELDS}
            for g in res.groups
        ],
    }


# ---------------------------------------------------------------- sweeps
def sweep_names(data: RepoData) -> list[dict[str, Any]]:
    from expbook.sweep import state

    out: list[dict[str, Any]] = []
    for name in state.names(data.root):
        try:
            doc = state.load(data.root, name, missing_ok=True)
        except ExpbookError as err:  # one unreadable state ref: named, the others listed
            out.append({"name": name, "updated": None, "counts": {}, "error": str(err)})
            continue
        counts: dict[str, int] = {}
        for t in state.trials(doc):
            counts[t.status] = counts.get(t.status, 0) + 1
        out.append({"name": name, "updated": doc.get("updated"), "counts": counts})
    return out


def sweep(data: RepoData, name: str) -> dict[str, Any]:
    """A sweep's trials, best-so-far per trial number, Pareto front, importance and the
    step curves of its trials (pruned ones stop early); `updated` changes with every recorded trial."""
    from expbook import sweep as sw
    from expbook.sweep import state
    from expbook.sweep.ranking import pareto_trials
    from expbook.sweep.report import metrics_of

    if name not in state.names(data.root):
        known = ", ".join(state.names(data.root)) or "none yet"
        raise NotFoundError(f"no sweep named {name[:200]!r} (sweeps: {known})")
    doc = sw.status(data.root, name)
    metrics = metrics_of(doc.spec or {})
    trials = doc.trials
    best: list[dict[str, Any]] = []
    if metrics:
        first, cur = metrics[0], None
        for t in trials:
            v = _num((t.values or [None])[0]) if t.status == "success" else None
            if v is not None and (cur is None or (v > cur if first.mode == "max" else v < cur)):
                cur = v
            best.append({"number": t.number, "value": v, "best": cur})
    front = pareto_trials(doc.ranked, metrics) if len(metrics) > 1 else []
    curves = []
    for t in [t for t in trials if t.rev][-MAX_SWEEP_CURVES:]:
        found = curves_of(data, t.rev or "")
        key = _curve_for(found, metrics[0].key if metrics else "")
        if key:
            curves.append({"name": t.name, "status": t.status, "metric": key, **_thin(found[key])})
    return {
        "name": name,
        "updated": doc.updated,
        "baseline": doc.baseline,
        "metrics": [{"key": m.key, "mode": m.mode} for m in metrics],
        "counts": doc.counts,
        "trials": [t.to_json() for t in trials],
        "configs": config_rows(doc.ranked, trials),
        "best_so_far": best,
        "pareto": front,
        "curves": curves,
        "importance": importance(doc.spec or {}, trials, metrics),
    }


def config_rows(
    ranked: Sequence[Mapping[str, Any]], trials: Sequence[TrialRecord]
) -> list[dict[str, Any]]:
    """One row per config: the ranking's (mean over its seeds), then the configs it leaves out
    (every run failed, or none finished yet) with their runs' status and first error."""
    out = [dict(c) for c in ranked]
    ranked_names = {n for c in ranked for n in c.get("trials") or []}
    rest: dict[str, list[TrialRecord]] = {}
    for t in trials:
        if t.name not in ranked_names:
            rest.setdefault(repr(sorted((t.config or {}).items())), []).append(t)
    for runs in rest.values():
        statuses = sorted({t.status for t in runs})
        out.append(
            {
                "config": runs[0].config,
                "values": [],
                "status": statuses[0] if len(statuses) == 1 else "/".join(statuses),
                "trials": [t.name for t in runs],
                "seeds": len(runs),
                "error": next((t.error for t in runs if t.error), None),
            }
        )
    return out


def _curve_for(found: Mapping[str, Any], metric: str) -> str | None:
    """The step curve that matches a sweep metric (`metrics.json:val.acc` -> `val/acc`)."""
    if not found:
        return None
    tail = metric.rsplit(":", 1)[-1].replace(".", "/")
    hits = [
        k for k in sorted(found) if k == tail or k.endswith("/" + tail) or k.endswith(":" + tail)
    ]
    return (hits or sorted(found))[0]


def _distribution(
    key: str, values: list[Any], spec_params: Mapping[str, dict[str, Any]]
) -> BaseDistribution:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    p = spec_params.get(key) or {}
    nums = [v for v in values if _num(v) is not None]
    if p.get("choices") is None and len(nums) == len(values):
        low = min([*nums, *(x for x in (p.get("low"),) if _num(x) is not None)])
        high = max([*nums, *(x for x in (p.get("high"),) if _num(x) is not None)])
        if (
            all(isinstance(v, int) for v in values)
            and isinstance(low, int)
            and isinstance(high, int)
        ):
            return IntDistribution(low, max(high, low + 1), log=bool(p.get("log")) and low > 0)
        return FloatDistribution(low, max(high, low + 1e-12), log=bool(p.get("log")) and low > 0)
    choices = list(
        dict.fromkeys(
            str(v) if isinstance(v, (list, dict)) else v
            for v in [*(p.get("choices") or []), *values]
        )
    )
    return CategoricalDistribution(choices)


def importance(
    spec: Mapping[str, Any], trials: Sequence[TrialRecord], metrics: Sequence[Metric]
) -> dict[str, Any]:
    """Optuna's param importance (fANOVA) for the first metric over finished trials."""
    done = [
        t
        for t in trials
        if t.status == "success" and t.config and _num((t.values or [None])[0]) is not None
    ]
    if not metrics or len(done) < 3:
        return {
            "metric": metrics[0].key if metrics else None,
            "values": {},
            "reason": "needs 3+ finished trials",
        }
    import optuna

    spec_params = {str(p.get("key")): p for p in spec.get("params") or [] if isinstance(p, dict)}
    keys = sorted({k for t in done for k in t.config})
    dists = {
        k: _distribution(k, [t.config.get(k) for t in done if k in t.config], spec_params)
        for k in keys
    }
    varying = {k: d for k, d in dists.items() if len({repr(t.config.get(k)) for t in done}) > 1}
    if not varying:
        return {"metric": metrics[0].key, "values": {}, "reason": "no param varies"}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if metrics[0].mode == "max" else "minimize")
    for t in done:
        cfg = t.config
        if not all(k in cfg for k in varying):
            continue
        params = {k: (str(cfg[k]) if isinstance(cfg[k], (list, dict)) else cfg[k]) for k in varying}
        study.add_trial(
            optuna.trial.create_trial(
                params=params, distributions=varying, value=_num((t.values or [None])[0])
            )
        )
    try:
        values = optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError) as exc:
        return {"metric": metrics[0].key, "values": {}, "reason": str(exc)}
    return {
        "metric": metrics[0].key,
        "values": {k: float(v) for k, v in values.items()},
        "reason": None,
    }
