"""Shared optuna storage: many `expbook sweep --storage URL` processes (e.g. a SLURM job array)
share one study; heartbeats fail the trials of killed workers and queue them again, and each
worker pushes its finished trials (exp refs, outputs, notes, its sweep state) to the git remote.

Used by the sweep driver and search when `--storage` is given; see README "Scaling out".
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import threading
import time
import warnings
from typing import TYPE_CHECKING, Any

from expbook.errors import ExpbookError, SpecError

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.storages import BaseStorage

    from expbook.sweep.spec import Spec

HEARTBEAT_ATTR = "expbook:heartbeat"  # journal storage: optuna's heartbeat is RDB-only
RDB_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "oracle", "mssql")
# what PostgreSQL says to the loser of two CREATE TABLEs of one table at once, by the driver's
# error name and by SQLSTATE: DuplicateTable (seen in CI), UniqueViolation on its catalog,
# DuplicateObject for a type or sequence
_CREATE_RACES = ("UniqueViolation", "DuplicateTable", "DuplicateObject")
_CREATE_RACE_CODES = ("23505", "42P07", "42710")


def open_storage(url: str, heartbeat: int) -> BaseStorage:
    """An optuna storage for `url`: an RDB URL (postgresql://..., sqlite:///...) with optuna's
    heartbeat, or `journal:PATH` / a plain file path (a journal file on a shared filesystem)."""
    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    scheme = url.split("://", 1)[0].split("+", 1)[0] if "://" in url else ""
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    if scheme and scheme not in RDB_SCHEMES:
        raise SpecError(
            f"--storage {url!r}: unknown scheme {scheme!r} (an RDB URL such as "
            "postgresql://... or sqlite:///..., or journal:PATH)"
        )
    for attempt in range(5):
        try:
            if not scheme:
                from expbook.sweep import journal

                path = url.removeprefix("journal:")
                journal.warn(journal.repair(path, url))  # a torn tail: cut, never appended to
                return JournalStorage(JournalFileBackend(path))
            return RDBStorage(
                _pg_driver(url),
                heartbeat_interval=heartbeat,
                grace_period=3 * heartbeat,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1),
                engine_kwargs={"pool_pre_ping": True} if scheme != "sqlite" else None,
            )
        except (ImportError, OSError) as exc:
            raise ExpbookError(f"--storage {url!r}: cannot open it ({exc})") from exc
        except Exception as exc:  # sqlalchemy's: bad URL, server down, no driver, a race
            if not type(exc).__module__.startswith(("sqlalchemy", "psycopg", "optuna")):
                raise
            orig = getattr(exc, "orig", None)  # the driver's error: its SQLSTATE, or its name
            code = getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None)
            text = str(exc) + repr(exc)
            race = code in _CREATE_RACE_CODES or any(name in text for name in _CREATE_RACES)
            if attempt == 4 or not race:
                raise ExpbookError(f"--storage {url!r}: cannot open it ({exc})") from exc
            # two workers creating optuna's tables in an empty database at once: the loser
            # finds them made on the next try
            time.sleep(0.5 + attempt)
    raise AssertionError("unreachable")


def _pg_driver(url: str) -> str:
    """SQLAlchemy 2.1 maps postgresql:// to psycopg 3; the `ray` extra ships psycopg2."""
    if not url.startswith(("postgresql://", "postgres://")):
        return url
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "postgresql+psycopg2://" + url.split("://", 1)[1]
    return url


def worker_id(repo: str) -> str:
    """This worker's name in the sweep state ref: host plus a digest of its clone's path."""
    digest = hashlib.sha256(os.path.abspath(repo).encode()).hexdigest()[:6]
    return f"{socket.gethostname()}-{digest}"


class Heartbeat:
    """Records a heartbeat for every live trial of this process, every `interval` seconds."""

    def __init__(self, storage: BaseStorage, interval: int) -> None:
        self.storage, self.interval = storage, interval
        self.live: set[int] = set()  # optuna trial ids
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="expbook-heartbeat")
        self.thread.start()

    def beat(self, trial_id: int) -> None:
        from optuna.storages import RDBStorage

        if isinstance(self.storage, RDBStorage):
            self.storage.record_heartbeat(trial_id)
        else:
            self.storage.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time())

    def _run(self) -> None:
        while not self.stopped.wait(self.interval):
            for trial_id in list(self.live):
                try:
                    self.beat(trial_id)
                except Exception:  # finished meanwhile, or the storage blinked: next round
                    continue

    def stop(self) -> None:
        self.stopped.set()


def fail_stale(study: optuna.Study, interval: int) -> None:
    """Fail RUNNING trials whose heartbeat is older than 3 intervals and queue them again once."""
    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
    from optuna.trial import TrialState

    storage = study._storage
    if isinstance(getattr(storage, "_backend", None), RDBStorage) or isinstance(
        storage, RDBStorage
    ):
        optuna.storages.fail_stale_trials(study)
        return
    now = time.time()
    retry = RetryHeartbeatStaleTrialCallback(max_retry=1)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        last = trial.system_attrs.get(HEARTBEAT_ATTR)
        if last is None and trial.datetime_start is not None:
            last = trial.datetime_start.timestamp()
        if last is None or now - float(last) < 3 * interval:
            continue
        try:
            storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another worker failed it first (and queued the retry)
        retry(study, study._storage.get_trial(trial._trial_id))


class Publisher:
    """Pushes each finished trial: `dvc exp push` (refs + outputs), the notes ref (merged with
    the remote's when another worker pushed first) and this worker's own sweep state ref."""

    def __init__(self, repo: str, remote: str, state_ref: str) -> None:
        self.repo, self.remote, self.state_ref = repo, remote, state_ref
        self.pending: list[str] = []  # trials not pushed yet (a failed push is tried again)

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        from expbook.proc import run

        proc = run(list(args), cwd=self.repo)
        if check and proc.returncode != 0:
            raise ExpbookError(
                f"{' '.join(args[:4])} failed: {(proc.stderr or proc.stdout).strip()}"
            )
        return proc

    def publish(self, names: list[str]) -> None:
        """Push; raises ExpbookError when the remote cannot be reached (tried again next time)."""
        from expbook.share import sync

        self.pending += [n for n in names if n not in self.pending]
        if self.pending:
            flag = sync._dvc_cache_flag(self.repo, None)
            self._run(sys.executable, "-m", "dvc", "exp", "push", self.remote, *self.pending, *flag)
            sync.push_notes(self.repo, self.remote)
            self.pending = []
        from expbook.registry.gitrepo import run_git

        run_git(
            "push", "-q", "-f", self.remote, f"{self.state_ref}:{self.state_ref}", cwd=self.repo
        )

    def try_publish(self, names: list[str]) -> str | None:
        """`publish`, or the warning to show when the remote cannot be reached (retried)."""
        try:
            self.publish(names)
        except ExpbookError as exc:
            return f"could not push trials to {self.remote} (will retry): {exc}"
        return None


def check_spec(spec: Spec) -> None:
    if spec.promote_top:
        raise SpecError(
            "promote: not with --storage (each worker sees only its own trials); "
            "run the promotion as a separate sweep after `expbook pull`"
        )


def study_name(spec: Spec, baseline: str) -> str:
    return f"expbook-{spec.name}-{baseline[:12]}"


def remaining(study: optuna.Study, spec: Spec, grid_size: int | None) -> tuple[bool, bool]:
    """(may ask now, others still running): from the whole study, not this worker's view."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    states = [t.state for t in trials]
    if TrialState.WAITING in states:
        return True, False
    running = TrialState.RUNNING in states
    if grid_size is not None:
        return False, running  # the grid is enqueued whole by the study's creator
    live = sum(s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING) for s in states)
    return live < int(spec.trials or 0), running


def wait_for_work(
    study: optuna.Study, spec: Spec, grid_size: int | None, interval: int, busy: bool
) -> bool:
    """True when this worker may ask for a trial. An idle worker waits while other workers'
    trials run: one of them may go stale and be queued again for it to run."""
    while True:
        fail_stale(study, interval)
        can_ask, others = remaining(study, spec, grid_size)
        if can_ask:
            return True
        if busy or not others:
            return False
        time.sleep(interval)


def grid_enqueue(study: optuna.Study, configs: list[dict[str, Any]]) -> None:
    for config in configs:
        study.enqueue_trial(config)


class SharedStudy:
    """One optuna study in shared storage, as this worker sees it (used by search.Search)."""

    def __init__(
        self, url: str, spec: Spec, baseline: str, worker: str, heartbeat: int = 10
    ) -> None:
        check_spec(spec)
        self.url, self.spec, self.interval = url, spec, heartbeat
        self.name = study_name(spec, baseline)
        self.storage = open_storage(url, heartbeat)
        self.seed_offset = int(hashlib.sha256(worker.encode()).hexdigest()[:6], 16)
        self.heartbeat = Heartbeat(self.storage, heartbeat)
        self.grid_size: int | None = None

    def open(self, kw: dict[str, Any], grid: list[dict[str, Any]] | None) -> optuna.Study:
        """Create the study, or load it when another worker did; the creator enqueues a grid."""
        import optuna

        try:
            study = optuna.create_study(storage=self.storage, study_name=self.name, **kw)
            created = True
        except optuna.exceptions.DuplicatedStudyError:
            kw = {k: v for k, v in kw.items() if k not in ("direction", "directions")}
            study = optuna.load_study(storage=self.storage, study_name=self.name, **kw)
            created = False
        if grid is not None:
            self.grid_size = len(grid)
            if created:
                grid_enqueue(study, grid)
            else:  # the creator may still be enqueueing: wait until the grid is whole
                end = time.time() + 30
                while len(study.get_trials(deepcopy=False)) < len(grid) and time.time() < end:
                    time.sleep(0.2)
        return study

    def ask(
        self, study: optuna.Study, distributions: dict[str, BaseDistribution], busy: bool
    ) -> optuna.trial.Trial | None:
        if not wait_for_work(study, self.spec, self.grid_size, self.interval, busy):
            return None
        trial = study.ask(distributions)
        attrs = study._storage.get_trial(trial._trial_id).system_attrs
        if self.grid_size is not None and "fixed_params" not in attrs:
            # another worker took the last queued grid point between our check and ask
            from optuna.trial import TrialState

            study.tell(trial, state=TrialState.FAIL)
            return None
        self.heartbeat.live.add(trial._trial_id)
        self.heartbeat.beat(trial._trial_id)
        return trial

    def done(self, trial: optuna.trial.Trial) -> None:
        self.heartbeat.live.discard(trial._trial_id)

    def close(self) -> None:
        self.heartbeat.stop()


def join(
    repo: str, spec: Spec, baseline: str, storage: str, remote: str, heartbeat: int
) -> tuple[SharedStudy, Publisher, str]:
    """This worker's view of the study in `storage`, its publisher and its state ref's name:
    one state ref per worker (each pushes its own); `sweep status` merges them."""
    from expbook.sweep.state import STATE_PREFIX

    worker = worker_id(repo)
    study = SharedStudy(storage, spec, baseline, worker, heartbeat)
    state_name = f"{spec.name}@{worker}"
    return study, Publisher(repo, remote, STATE_PREFIX + state_name), state_name
