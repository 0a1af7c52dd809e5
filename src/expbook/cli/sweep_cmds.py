"""`expbook sweep`: run a hyperparameter sweep (file spec or -S options), `sweep status`, `sweep best`.

A thin click layer over expbook.sweep; `expbook sweep SPEC` is short for `expbook sweep run SPEC`.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from expbook.cli.options import (
    alert_options,
    deprecated_alias,
    format_options,
    mode_option,
    repo_option,
    top_option,
)
from expbook.cli.printing import emit_data

if TYPE_CHECKING:
    from expbook.sweep.plan import Metric
    from expbook.sweep.ranking import RankedConfig
    from expbook.sweep.record import TrialRecord


class _DefaultRun(click.Group):
    """`expbook sweep X ...` means `expbook sweep run X ...` unless X is a subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_DefaultRun)
def sweep() -> None:
    """Sweep hyperparameters; every trial is a DVC experiment (`dvc exp show` sees it).

    \b
    Example:
        expbook sweep sweeps/lr-wd.yaml -j 2
        expbook sweep -S train.lr=1e-4,3e-4,1e-3 -S train.weight_decay=0,1e-5 --metric val.acc
        expbook sweep status lr-wd
    """


@sweep.command("run")
@click.argument("spec_file", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--set-param",
    "-S",
    "sets",
    multiple=True,
    metavar="KEY=V1,V2|LOW..HIGH[:log]",
    help="A swept (several values/range) or fixed (one value) param; repeatable.",
)
@click.option("--name", default=None, help="Sweep name; trials are NAME-001, NAME-002, ...")
@click.option("--method", type=click.Choice(["grid", "random", "tpe", "nsga2"]), default=None)
@click.option(
    "--metric",
    "-m",
    "metric_keys",
    multiple=True,
    metavar="KEY",
    help="Metric to optimise (repeat for nsga2).",
)
@mode_option(
    "Maximise or minimise every --metric (default: the spec's `mode:`, else the "
    "direction declared in pyproject.toml, else the metric's name; a sweep whose direction "
    "is unknown does not start)."
)
@click.option(
    "--new-metric",
    "new_metric",
    is_flag=True,
    help="The metric is new: do not require it among the baseline's metrics.",
)
@click.option(
    "--max-trials",
    "max_trials",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    help="Refuse a sweep that plans more runs (grid points or trials, times seeds).",
)
@click.option(
    "--trials",
    type=click.IntRange(min=1),
    default=None,
    help="Configs to try (random/tpe/nsga2).",
)
@deprecated_alias("-n", dest="trials", new="--trials", type=click.IntRange(min=1), default=None)
@click.option(
    "--seeds", type=click.IntRange(min=1), default=None, help="Repeat each config with seed 0..N-1."
)
@click.option("--seed-key", default=None, help="Param that receives the seed (base.seed).")
@click.option(
    "--search-seed",
    type=click.IntRange(min=0),
    default=None,
    help="Seed of the random/tpe/nsga2 sampler (reproducible searches).",
)
@click.option(
    "--jobs", "-j", type=click.IntRange(min=1), default=None, help="Trials to run at once."
)
@click.option("--prune", type=click.Choice(["none", "median", "asha"]), default=None)
@click.option(
    "--validate",
    default=None,
    metavar="CMD",
    help="Command that checks each trial's params before anything runs.",
)
@alert_options(
    "best",
    "Run CMD (split like a shell would, never run by one) each time a trial beats the best "
    "so far: the trial as JSON on stdin, EXPBOOK_BEST_NAME/EXPBOOK_BEST_VALUE set; 5 s timeout.",
    "POST the same JSON to URL (a webhook; 5 s timeout; failures are logged, never fatal).",
)
@click.option(
    "--backend",
    type=click.Choice(["local", "ray"]),
    default=None,
    help="Where trials run (default: the spec's `backend:`, else local worker processes).",
)
@click.option(
    "--ray-address",
    default=None,
    metavar="ADDR",
    help="Ray cluster to join (HOST:PORT or auto); default: start a local Ray instance.",
)
@click.option(
    "--git-remote",
    default=None,
    metavar="NAME",
    help="Git remote the Ray nodes fetch the baseline from and push trials to (default origin).",
)
@click.option(
    "--storage",
    default=None,
    metavar="URL",
    help="Shared optuna storage (postgresql://..., sqlite:///..., journal:PATH): several "
    "sweep processes with one spec share one study and push their trials to --git-remote.",
)
@click.option(
    "--heartbeat",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="With --storage: seconds between heartbeats; a trial silent for 3 is failed and rerun.",
)
@click.option(
    "--warm-stages",
    is_flag=True,
    default=False,
    help="Opt-in: run stage commands that are exactly `python -m MOD ...` / `python FILE.py "
    "...` in a child forked from a warm process that imported numpy and torch once (spec key "
    "`warm_stages: [modules]` picks them); any other command runs the normal way.",
)
@click.option(
    "--force-new",
    is_flag=True,
    help="The spec under this name changed: start the sweep afresh (trials numbered on, the "
    "old state kept in git history) instead of refusing.",
)
@click.option(
    "--no-parallel-cap",
    "no_parallel_cap",
    is_flag=True,
    help="Start every -j/parallel worker, even past 4 per CPU (spec: parallel_cap: false).",
)
@format_options
@repo_option
def run(
    spec_file: str | None,
    sets: tuple[str, ...],
    name: str | None,
    method: str | None,
    metric_keys: tuple[str, ...],
    mode: str | None,
    new_metric: bool,
    max_trials: int,
    trials: int | None,
    seeds: int | None,
    seed_key: str | None,
    search_seed: int | None,
    jobs: int | None,
    prune: str | None,
    validate: str | None,
    on_best: str | None,
    on_best_url: str | None,
    fmt: str | None,
    output: str | None,
    force: bool,
    backend: str | None,
    ray_address: str | None,
    git_remote: str | None,
    storage: str | None,
    heartbeat: int,
    warm_stages: bool,
    force_new: bool,
    no_parallel_cap: bool,
    repo: str,
) -> None:
    """Run (or resume) a sweep from a YAML spec or -S options.

    Re-running the same spec skips trials already finished on the same baseline; a changed
    spec under a recorded name is refused (showing the difference) unless --force-new.

    \b
    Example:
        expbook sweep run sweeps/lr-wd.yaml -j 2
        expbook sweep -S train.lr=1e-4..1e-2:log --method tpe --trials 20 -m val.acc --json
        expbook sweep sweeps/lr-wd.yaml --on-best "notify-send 'new best'" \\
            --on-best-url http://127.0.0.1:8000/hook
        expbook sweep sweeps/lr-wd.yaml --backend ray --ray-address auto -j 16
        expbook sweep sweeps/lr-wd.yaml --storage postgresql://db/optuna --git-remote origin
        expbook sweep -S train.lr=0.001,0.01 -m val.acc -j 2 --warm-stages
    """
    from expbook.errors import SpecError
    from expbook.lifecycle.alerts import Alerts, BestWatch
    from expbook.output import format_for
    from expbook.sweep import backends, load_spec, run_sweep, spec_from_options
    from expbook.sweep.report import Progress

    overrides: dict[str, Any] = {
        "name": name,
        "method": method,
        "trials": trials,
        "seeds": seeds,
        "seed_key": seed_key,
        "seed": search_seed,
        "parallel": jobs,
        "validate": validate,
    }
    if prune:
        overrides["prune"] = {"method": prune}
    if metric_keys:
        overrides["metric"] = [{"key": k, "mode": mode} for k in metric_keys]
        if mode is None:  # the spec file's `mode:` for the key, else the declaration/name
            overrides["metric"] = [{"key": k} for k in metric_keys]
        if len(metric_keys) == 1:
            overrides["metric"] = overrides["metric"][0]
    if spec_file and sets:
        raise SpecError("give either a spec file or -S options, not both")
    if mode is not None and not metric_keys:
        raise SpecError("--mode goes with -m/--metric KEY (a spec file says `mode:` per metric)")
    if spec_file:
        spec = load_spec(spec_file, overrides)
    elif sets:
        spec = spec_from_options(list(sets), overrides)
    else:
        raise SpecError("nothing to sweep: give a spec file or -S KEY=VALUES options")
    spec.trial_limit, spec.new_metrics = max_trials, new_metric
    if warm_stages and spec.warm_stages is None:
        spec.warm_stages = []  # the default modules
    spec.check_size()  # before the repo is even opened
    for m in spec.metrics:
        if mode is not None:  # every metric is a -m KEY then
            m.source = "--mode"
    spec.force_new = force_new
    spec.parallel_cap = spec.parallel_cap and not no_parallel_cap
    from expbook.sweep.identity import cap_parallel

    spec.parallel, capped = cap_parallel(spec.parallel, spec.parallel_cap)
    if capped:  # said now, not after a sweep of hours
        click.echo(f"warning: {capped}", err=True)
    fmt = format_for(fmt, output)
    progress = None if fmt != "table" or output or not sys.stderr.isatty() else Progress()
    shared = {}
    if storage:
        shared = {"storage": storage, "git_remote": git_remote, "heartbeat": heartbeat}
    spec.backend = backends.with_cli(spec.backend, backend, ray_address, git_remote)
    if git_remote and spec.backend["name"] != "ray" and not storage:
        raise SpecError("--git-remote needs --backend ray or --storage")
    if spec.warm_stages is not None and spec.backend["name"] != "local":
        raise SpecError("--warm-stages (warm_stages:) works with the local backend only")
    from expbook.registry.gitrepo import find_root
    from expbook.sweep import preflight

    # after the option checks (a bad flag combination is named first), before anything is made
    preflight.directions(spec, find_root(repo))
    if fmt == "table" and output is None:
        for m in spec.metrics:  # the direction said before the first trial: "minimising ..."
            click.echo(f"sweep {spec.name}: {m.direction[:-1]}ing {m.key} {m.label}", err=True)
    factory = backends.factory(spec.backend)
    alerts = Alerts.from_options(on_best, on_best_url)
    watch = None
    if alerts is not None:
        first = spec.metrics[0]  # nsga2: alerts follow the first objective
        watch = BestWatch(alerts, spec.name, first.key, first.mode, first.source)
    result = run_sweep(
        spec, repo, progress=progress, on_best=watch, backend_factory=factory, **shared
    )
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if fmt == "table" and output is None:
        _print_summary(result.trials, spec.metrics, result.pareto, result.skipped)
    else:
        data = result.to_json()
        data["metrics"] = [
            {"key": m.key, "mode": m.mode, "mode_source": m.source} for m in spec.metrics
        ]
        emit_data(fmt, output, data=lambda: data, rows=lambda: _rows(data["trials"]), force=force)
    if result.trials and all(t.status == "failed" for t in result.trials):
        raise SystemExit(1)


def _print_summary(
    trials: list[TrialRecord],
    metrics: list[Metric],
    pareto: list[RankedConfig] | None = None,
    skipped: int = 0,
) -> None:
    from rich.console import Console

    from expbook.sweep.report import failures, pareto_table, summary_table

    console = Console()
    console.print(summary_table(trials, metrics))
    if pareto:
        console.print(pareto_table(pareto, metrics))
    for line in failures(trials):
        console.print(f"failed: {line}", markup=False)
    if skipped:
        console.print(f"{skipped} trial(s) already finished on this baseline were skipped")


@sweep.command("status")
@click.argument("name")
@format_options
@repo_option
def status(name: str, fmt: str | None, output: str | None, force: bool, repo: str) -> None:
    """Show a sweep's trials (status, metric, params), read from git alone.

    \b
    Example:
        expbook sweep status lr-wd
        expbook sweep status lr-wd -f csv -o trials.csv
    """
    from expbook.output import format_for
    from expbook.sweep import status as sweep_status
    from expbook.sweep.report import metrics_of

    fmt = format_for(fmt, output)
    found = sweep_status(repo, name)
    if fmt != "table" or output is not None:
        data = found.to_json()
        emit_data(fmt, output, data=lambda: data, rows=lambda: _rows(data["trials"]), force=force)
        return
    counts = ", ".join(f"{v} {k}" for k, v in sorted(found.counts.items()))
    click.echo(f"sweep {name} on {str(found.baseline)[:7]}: {counts or 'no trials'}")
    _print_summary(found.trials, metrics_of(found.spec or {}))


@sweep.command("best")
@click.argument("name")
@top_option(default=1, help="The N best configs.")
@format_options
@repo_option
def best(name: str, top: int, fmt: str | None, output: str | None, force: bool, repo: str) -> None:
    """Print the best trial(s) of a sweep: names, metric values, params.

    \b
    Example:
        expbook sweep best lr-wd --top 3
        expbook sweep best lr-wd -n 3 --json
    """
    from expbook.output import format_for
    from expbook.output.render import escape_control
    from expbook.sweep import best as sweep_best

    fmt = format_for(fmt, output)
    entries = sweep_best(repo, name, top)
    if fmt != "table" or output is not None:
        rows = [dict(e) for e in entries]
        emit_data(fmt, output, data=lambda: entries, rows=lambda: _rows(rows), force=force)
        return
    if not entries:
        click.echo(f"sweep {name}: no successful trial yet")
    for e in entries:
        values = " ".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in e["values"])
        params = " ".join(f"{k}={v}" for k, v in (e["config"] or {}).items())
        click.echo(escape_control(f"{','.join(e['trials'])}\t{values}\t{params}"))


def _rows(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Trial records (or ranked configs) as table rows for csv/md/html: every key as a column."""
    from expbook.output import ordered_columns

    return records, ordered_columns(records)
