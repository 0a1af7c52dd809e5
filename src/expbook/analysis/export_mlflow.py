"""Export experiments to MLflow: one run per experiment with its params, final metrics, every
dvclive step curve as a metric history at its steps, tags (name, rev, baseline, expbook tags,
notes as the run description, status) and the run's start/end time and status.

Idempotent: a run is found again by its `expbook.rev` tag, so a second export updates the same
run (tags, status) and logs only metric points it does not hold yet. Works against any
tracking URI (a local `sqlite:///...` or `file:...` store, or a tracking server; a `file:`
store is opted in to under MLflow 3, which keeps it in maintenance mode). Needs the
optional extra `expbook[mlflow]`. Used by `expbook export --to mlflow`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from expbook.analysis.curves import Curve
from expbook.analysis.exporting import metric_number
from expbook.errors import ExpbookError
from expbook.output import short_names

if TYPE_CHECKING:  # the mlflow extra, imported on use
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

    from expbook.registry import Experiment

REV_TAG = "expbook.rev"
# registry status -> MLflow RunStatus name
STATUS = {
    "success": "FINISHED",
    "failed": "FAILED",
    "pruned": "KILLED",
    "running": "RUNNING",
    "queued": "SCHEDULED",
}
_BAD_KEY = re.compile(r"[^\w./ -]")  # MLflow keys: alphanumerics, _ - . / and space
MAX_PARAM = 6000  # MLflow's limit on a param value's length


def require() -> None:
    """ExpbookError naming the extra when mlflow is not installed (checked before any work)."""
    try:
        import mlflow.tracking  # noqa: F401
    except ImportError:
        raise ExpbookError(
            "exporting to MLflow needs the mlflow extra: pip install 'expbook[mlflow]'"
        ) from None


def tracking_uri_of(tracking_uri: str | None) -> str:
    """The URI the export writes to: the one given, else MLflow's default
    (MLFLOW_TRACKING_URI, or its own), so the output check sees where runs really go."""
    if tracking_uri:
        return tracking_uri
    require()
    import mlflow

    return str(mlflow.get_tracking_uri())


def is_file_store(tracking_uri: str) -> bool:
    """A `file:` store or plain path: MLflow 3 keeps these in maintenance mode."""
    from expbook.analysis.exporting import tracking_store_path

    found = tracking_store_path(tracking_uri)
    return found is not None and found[1] == "dir"


def _client(tracking_uri: str | None) -> MlflowClient:
    require()
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    if tracking_uri and is_file_store(tracking_uri):
        # MLflow 3 refuses a file store unless told (issue 19: the README's `file:DIR` died
        # with an MlflowException); the user named one, which is that opt-in
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    try:
        return MlflowClient(tracking_uri=tracking_uri)
    except MlflowException as exc:
        raise ExpbookError(f"MLflow ({tracking_uri or 'default URI'}): {exc.message}") from None


def mlflow_key(name: str) -> str:
    """A key MLflow accepts for a registry/curve name (`:` and other characters become `_`)."""
    return _BAD_KEY.sub("_", name)


def _ms(iso: str | None) -> int | None:
    if not iso:
        return None
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def _param(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text[:MAX_PARAM]


def _find_run(client: MlflowClient, experiment_id: str, rev: str) -> Run | None:
    runs = client.search_runs(
        [experiment_id], filter_string=f"tags.`{REV_TAG}` = '{rev}'", max_results=1
    )
    return runs[0] if runs else None


def export_mlflow(
    items: Sequence[tuple[Experiment, Mapping[str, Curve]]],
    *,
    tracking_uri: str | None = None,
    experiment: str = "expbook",
) -> list[tuple[str, str, bool]]:
    """One MLflow run per (registry Experiment, curves); returns (name, run id, created).
    An error MLflow raises on the way is an ExpbookError naming the URI."""
    from expbook.analysis.exporting import check_export_target

    check_export_target(tracking_uri=tracking_uri_of(tracking_uri))  # not in .git/ (issue 19)
    client = _client(tracking_uri)
    from mlflow.exceptions import MlflowException

    try:
        return _export_runs(client, items, tracking_uri, experiment)
    except MlflowException as exc:
        raise ExpbookError(f"MLflow ({tracking_uri or 'default URI'}): {exc.message}") from None


def _export_runs(
    client: MlflowClient,
    items: Sequence[tuple[Experiment, Mapping[str, Curve]]],
    tracking_uri: str | None,
    experiment: str,
) -> list[tuple[str, str, bool]]:
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.exceptions import MlflowException

    try:
        found = client.get_experiment_by_name(experiment)
        experiment_id = (
            found.experiment_id if found is not None else client.create_experiment(experiment)
        )
    except MlflowException as exc:
        raise ExpbookError(f"MLflow ({tracking_uri or 'default URI'}): {exc.message}") from None
    params = short_names(sorted({k for exp, _ in items for k in exp.params}))
    metrics = short_names(sorted({k for exp, _ in items for k in exp.metrics}))
    out = []
    for exp, curves in items:
        stamps = [t for c in curves.values() for t in c.timestamps if t]
        # the commit time (seconds) ends the run; the first dvclive timestamp (ms) starts it
        end = max([t for t in (_ms(exp.created), *stamps) if t] or [0]) or None
        start = min(stamps) if stamps else end
        run = _find_run(client, experiment_id, exp.rev)
        created = run is None
        if run is None:
            run = client.create_run(experiment_id, start_time=start, run_name=exp.name)
        run_id = run.info.run_id
        tags = {
            "mlflow.runName": exp.name,
            "mlflow.note.content": "\n\n".join(exp.notes),
            REV_TAG: exp.rev,
            "expbook.name": exp.name,
            "expbook.kind": exp.kind,
            "expbook.baseline": exp.baseline or "",
            "expbook.tags": ",".join(exp.tags),
            "expbook.status": exp.status,
            "expbook.created": exp.created or "",
        }
        if exp.sweep:
            tags["expbook.sweep"] = str(exp.sweep.get("name"))
        have = dict(run.data.params) if not created else {}
        new_params = [
            Param(mlflow_key(params[k]), _param(v))
            for k, v in sorted(exp.params.items())
            if mlflow_key(params[k]) not in have  # params are immutable in MLflow
        ]
        points: list[Metric] = []
        for key, value in sorted(exp.metrics.items()):
            number = metric_number(value)
            if number is not None:
                points.append(Metric(mlflow_key(metrics[key]), number, end or 0, 0))
        for name, curve in sorted(curves.items()):
            for i, (step, value) in enumerate(zip(curve.steps, curve.values)):
                stamp = curve.timestamps[i] if i < len(curve.timestamps) else None
                points.append(Metric(mlflow_key(name), value, stamp or end or 0, step))
        if not created:  # log only the points the run does not hold yet
            keys = {p.key for p in points}
            seen = {
                (k, m.step, m.value) for k in keys for m in client.get_metric_history(run_id, k)
            }
            points = [p for p in points if (p.key, p.step, p.value) not in seen]
        tag_list = [RunTag(k, v) for k, v in tags.items()]
        for i in range(0, max(len(points), len(new_params), 1), 900):  # log_batch limits
            client.log_batch(
                run_id,
                metrics=points[i : i + 900],
                params=new_params[i : i + 90] if i == 0 else [],
                tags=tag_list if i == 0 else [],
            )
        for j in range(90, len(new_params), 90):
            client.log_batch(run_id, params=new_params[j : j + 90])
        status = STATUS.get(exp.status, "FINISHED")
        if status in ("FINISHED", "FAILED", "KILLED"):
            client.set_terminated(run_id, status=status, end_time=end)
        else:
            client.update_run(run_id, status=status)
        out.append((exp.name, run_id, created))
    return out
