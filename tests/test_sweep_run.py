"""End-to-end sweeps on the tiny pipeline in real git+DVC repos: grid names and refs that DVC sees,
seeds, search-seed reproducibility, pruning, failing trials, promote, nsga2 and validation.
"""

from __future__ import annotations

import json

import pytest

from conftest import commit_all, dvc, sh
from test_sweep_support import exp_refs, exp_show, run_cli, tiny_repo

pytestmark = pytest.mark.slow


@pytest.fixture
def repo(tmp_path, tmp_path_factory):
    return tiny_repo(tmp_path / "repo", tmp_path_factory)


def sweep_json(repo, *args):
    proc = run_cli(repo, "sweep", *args, "--json")
    return json.loads(proc.stdout)


def assert_clean(repo):
    """No worktree, temp workspace, DVC executor ref or dirty file is left behind."""
    assert sh("git", "status", "--porcelain", cwd=repo).stdout == ""
    assert len(sh("git", "worktree", "list", cwd=repo).stdout.splitlines()) == 1
    assert "refs/exps/exec" not in sh("git", "for-each-ref", cwd=repo).stdout
    sh("git", "fsck", "--no-progress", cwd=repo)
    # only the lock file, the logs of failed trials (kept on purpose, for debugging) and the
    # registry's own cache (the pre-flight check reads the baseline's metrics through it)
    leftovers = sorted(
        p.name
        for p in (repo / ".dvc/tmp/expbook").iterdir()
        if p.name not in ("sweep.lock", "worktree.lock", "logs") and not p.name.endswith(".pickle")
    )
    assert leftovers == []


def test_grid_parallel_creates_named_exp_refs_that_dvc_shows_and_applies(repo):
    out = sweep_json(
        repo,
        "-S",
        "train.lr=0.001,0.01,0.02",
        "-S",
        "train.wd=0,0.01",
        "--metric",
        "val.acc",
        "-j",
        "2",
        "--name",
        "lr-wd",
    )
    names = [t["name"] for t in out["trials"]]
    assert names == [f"lr-wd-{i:03d}" for i in range(1, 7)]
    assert all(t["status"] == "success" for t in out["trials"])
    refs = exp_refs(repo)
    assert sorted(refs) == names
    shown = exp_show(repo)
    assert set(names) <= set(shown)
    exp = shown["lr-wd-004"]["data"]
    assert exp["params"]["params.yaml"]["data"]["train"] == {
        "lr": 0.01,
        "wd": 0.01,
        "epochs": 2,
        "sleep": 0.0,
        "fail": False,
        "pidfile": "",
    }
    assert exp["metrics"]["live/metrics.json"]["data"]["val"]["acc"] == pytest.approx(0.9)
    assert out["best"][0]["trials"] == ["lr-wd-003"]  # lr=0.01, wd=0 is the optimum
    # the params writer keeps the file's comments, like `dvc exp run -S`
    text = sh("git", "show", f"{refs['lr-wd-001']}:params.yaml", cwd=repo).stdout
    assert "lr: 0.001  # learning rate" in text and text.startswith("# tiny pipeline")
    # an exp commit like DVC's: parent = baseline, message `dvc: commit experiment <hash>`
    head = sh("git", "rev-parse", "HEAD", cwd=repo).stdout.strip()
    assert sh("git", "rev-parse", f"{refs['lr-wd-001']}^", cwd=repo).stdout.strip() == head
    assert sh("git", "log", "-1", "--format=%s", refs["lr-wd-001"], cwd=repo).stdout.startswith(
        "dvc: commit experiment "
    )
    assert_clean(repo)
    plots = json.loads(dvc("plots", "diff", "lr-wd-001", "lr-wd-002", "--json", cwd=repo).stdout)
    curve = plots["data"]["live/plots/metrics/val/acc.tsv"][0]
    assert curve["revisions"] == ["lr-wd-001", "lr-wd-002"]
    assert {row["rev"] for row in curve["content"]["data"]["values"]} == {"lr-wd-001", "lr-wd-002"}
    dvc("exp", "apply", "lr-wd-002", cwd=repo)
    assert "wd: 0.01" in (repo / "params.yaml").read_text()
    assert (repo / "model.bin").read_text() == "model 0.001 0.01 0"  # output from the cache


def test_registry_lists_sweep_trials_and_status_best_work_from_git(repo):
    sweep_json(repo, "-S", "train.lr=0.001,0.01", "--metric", "val.acc", "--name", "s")
    rows = json.loads(
        run_cli(repo, "registry", "--where", "sweep = 's'", "--format", "json").stdout
    )
    assert sorted(r["name"] for r in rows) == ["s-001", "s-002"]
    assert sorted(r["sweep"]["trial"] for r in rows) == [1, 2]  # nested JSON rows
    status = json.loads(run_cli(repo, "sweep", "status", "s", "--json").stdout)
    assert status["counts"] == {"success": 2}
    best = run_cli(repo, "sweep", "best", "s").stdout
    assert best.startswith("s-002\t1\ttrain.lr=0.01")
    missing = run_cli(repo, "sweep", "status", "nope", check=False)
    assert missing.returncode != 0 and "no sweep named 'nope'" in missing.stderr


def test_seeds_repeat_each_config_with_seed_values(repo):
    out = sweep_json(
        repo,
        "-S",
        "train.lr=0.001,0.01",
        "--seeds",
        "2",
        "--metric",
        "val.acc",
        "--name",
        "sd",
        "-j",
        "2",
    )
    seeds = [
        (t["config"]["train.lr"], t["overrides"]["params.yaml:base.seed"]) for t in out["trials"]
    ]
    assert seeds == [(0.001, 0), (0.001, 1), (0.01, 0), (0.01, 1)]
    best = out["best"][0]
    assert best["trials"] == ["sd-003", "sd-004"] and best["seeds"] == 2
    assert best["values"][0] == pytest.approx((1.0 + 1.001) / 2)


def test_random_search_with_search_seed_is_reproducible(repo, tmp_path, tmp_path_factory):
    other = tiny_repo(tmp_path / "other", tmp_path_factory)
    args = (
        "-S",
        "train.lr=0.0001..0.1:log",
        "--method",
        "random",
        "--trials",
        "3",
        "--search-seed",
        "5",
        "--metric",
        "val.acc",
        "--name",
        "rnd",
    )
    first = [t["config"] for t in sweep_json(repo, *args)["trials"]]
    second = [t["config"] for t in sweep_json(other, *args)["trials"]]
    assert first == second and len({c["train.lr"] for c in first}) == 3


def test_failing_trial_is_recorded_and_the_sweep_goes_on(repo):
    proc = run_cli(
        repo, "sweep", "-S", "train.lr=0.01,0.666,0.02", "--metric", "val.acc", "--name", "f"
    )
    assert proc.returncode == 0
    assert "failed: f-002" in proc.stdout
    status = json.loads(run_cli(repo, "sweep", "status", "f", "--json").stdout)
    failed = [t for t in status["trials"] if t["status"] == "failed"]
    assert [t["name"] for t in failed] == ["f-002"]
    assert "asked to fail (lr=0.666)" in failed[0]["error"] and failed[0]["rev"] is None
    assert sorted(exp_refs(repo)) == ["f-001", "f-003"]
    assert_clean(repo)


def test_median_pruning_stops_bad_trials_which_show_as_pruned(repo):
    (repo / "prune.yaml").write_text(
        "name: pr\nmetric: {key: val.acc, mode: max}\n"
        "params:\n  train.lr: [0.01, 0.02, 0.09, 0.095]\n  train.epochs: 8\n"
        "  train.sleep: 0.25\nprune: {method: median, min_epochs: 1}\n"
    )
    out = sweep_json(repo, "prune.yaml")
    status = {t["name"]: t["status"] for t in out["trials"]}
    assert status["pr-001"] == "success" and status["pr-002"] == "success"
    assert "pruned" in (status["pr-003"], status["pr-004"])
    pruned = next(t for t in out["trials"] if t["status"] == "pruned")
    # kept as an experiment with its partial curve
    tsv = sh("git", "show", f"{pruned['rev']}:live/plots/metrics/val/acc.tsv", cwd=repo).stdout
    assert 1 < len(tsv.splitlines()) - 1 < 8
    rows = json.loads(
        run_cli(repo, "registry", "--where", "status = 'pruned'", "--format", "json").stdout
    )
    assert pruned["name"] in [r["name"] for r in rows]


def test_promote_reruns_the_best_with_overrides_linked_to_parent(repo):
    (repo / "promo.yaml").write_text(
        "name: pm\nmetric: val.acc\nparams:\n  train.lr: [0.001, 0.01, 0.05]\n"
        "promote: {top: 1, set: {train.epochs: 3}}\n"
    )
    out = sweep_json(repo, "promo.yaml")
    promoted = [t for t in out["trials"] if t["kind"] == "promote"]
    best = next(t for t in out["trials"] if t["name"] == "pm-002")
    assert len(promoted) == 1 and promoted[0]["parent"] == best["rev"]
    assert promoted[0]["overrides"]["params.yaml:train.epochs"] == 3
    note = json.loads(
        sh("git", "notes", "--ref", "expbook", "show", promoted[0]["rev"], cwd=repo).stdout
    )
    assert note["sweep"]["parent"] == best["rev"]
    again = sweep_json(repo, "promo.yaml")  # idempotent: nothing re-runs
    assert again["skipped"] == 4 and len(exp_refs(repo)) == 4


def test_nsga2_prints_the_pareto_front(repo):
    (repo / "mo.yaml").write_text(
        "name: mo\nmethod: nsga2\ntrials: 4\nseed: 1\n"
        "metric: [{key: val.acc, mode: max}, {key: cost, mode: min}]\n"
        "params:\n  train.lr: {low: 0.001, high: 0.05}\n"
    )
    proc = run_cli(repo, "sweep", "mo.yaml")
    assert "Pareto front" in proc.stdout
    assert len(exp_refs(repo)) == 4


def test_validation_command_rejects_bad_params_before_any_trial(repo):
    (repo / "check.py").write_text(
        "import sys, yaml\nlr = yaml.safe_load(open('params.yaml'))['train']['lr']\n"
        "sys.exit(f'params.yaml: train.lr must be <= 0.05, got {lr}' if lr > 0.05 else 0)\n"
    )
    sh("git", "add", "check.py", cwd=repo)
    sh("git", "commit", "-qm", "check", cwd=repo)
    proc = run_cli(
        repo,
        "sweep",
        "-S",
        "train.lr=0.01,0.5",
        "--metric",
        "val.acc",
        "--validate",
        "python check.py",
        check=False,
    )
    assert proc.returncode != 0
    assert "train.lr must be <= 0.05, got 0.5" in proc.stderr
    assert exp_refs(repo) == {}
    assert_clean(repo)


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["-S", "train.nope=1,2", "--metric", "val.acc"], "unknown key 'train.nope'"),
        (["-S", "train.lr=1,2", "--metric", "val.acc", "--method", "tpe"], "needs `trials: N`"),
        (["--metric", "val.acc"], "nothing to sweep"),
    ],
)
def test_bad_sweep_command_fails_without_writing_anything(repo, args, fragment):
    proc = run_cli(repo, "sweep", *args, check=False)
    assert proc.returncode != 0 and fragment in proc.stderr
    assert exp_refs(repo) == {}
    assert "refs/expbook" not in sh("git", "for-each-ref", cwd=repo).stdout


def test_library_call_with_a_custom_backend(repo):
    """The driver only talks to the Backend interface: a subclass sees every trial submitted."""
    from expbook.sweep import run_sweep, spec_from_options
    from expbook.sweep.runner import LocalBackend

    submitted = []

    class Recording(LocalBackend):
        def submit(self, task):
            submitted.append((task["name"], task["overrides"]))
            return super().submit(task)

    spec = spec_from_options(
        ["train.wd=0,0.01", "train.epochs=1"],
        {"metric": {"key": "val.acc", "mode": "max"}, "name": "lib"},
    )
    result = run_sweep(spec, str(repo), backend_factory=Recording)
    assert submitted == [
        ("lib-001", {"params.yaml:train.epochs": 1, "params.yaml:train.wd": 0}),
        ("lib-002", {"params.yaml:train.epochs": 1, "params.yaml:train.wd": 0.01}),
    ]
    assert [t.status for t in result.trials] == ["success", "success"]
    assert result.ranked[0]["trials"] == ["lib-001"]


def test_a_plain_grid_sweeps_driver_imports_no_dvc_optuna_or_ray(repo):
    """Issue 12 (start-up): on a plain grid's path the driver process imports neither DVC (the
    workers' forkserver does, once), nor optuna (no sampler or pruner needed), nor Ray."""
    import subprocess
    import sys

    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('IMPORTED', sorted(m for m in ('dvc', 'optuna', 'ray')"
        " if m in sys.modules)))\n"
        "sys.argv = ['expbook', 'sweep', '-S', 'train.lr=0.001,0.002', '-m', 'val.acc', '-j', '2',"
        " '--json']\n"
        "from expbook.cli import main\n"
        "main()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True
    )
    assert "IMPORTED []" in proc.stdout
    assert len(exp_refs(repo)) == 2


def test_workers_run_with_the_drivers_environment_not_an_older_forkservers(repo, monkeypatch):
    """Issue 12: local workers fork from a forkserver that imported DVC once; one started
    earlier in the process holds the environment of then, yet trials see the driver's now
    (as a spawned worker did), and the sweep stops the server: nothing of it stays running."""
    import multiprocessing.forkserver as forkserver

    from expbook.sweep import run_sweep, runner, spec_from_options

    with open(repo / "train.py", "a") as fh:  # the stage records what it sees
        fh.write(
            "m = json.load(open('live/metrics.json'))\n"
            "m['env'] = float(os.environ.get('EXPBOOK_TEST_ENV', '-1'))\n"
            "json.dump(m, open('live/metrics.json', 'w'))\n"
        )
    commit_all(repo, "the stage writes EXPBOOK_TEST_ENV as a metric")
    monkeypatch.setenv("EXPBOOK_TEST_ENV", "1")
    if runner._context().get_start_method() == "forkserver":
        forkserver.ensure_running()  # started with EXPBOOK_TEST_ENV=1
    monkeypatch.setenv("EXPBOOK_TEST_ENV", "7")
    spec = spec_from_options(
        ["train.lr=0.001,0.002", "train.epochs=1"],
        {"metric": {"key": "env", "mode": "max"}, "name": "env"},  # issue 18: no max default
    )
    spec.new_metrics = True
    result = run_sweep(spec, str(repo))
    assert [t.values for t in result.trials] == [[7.0], [7.0]]
    assert forkserver._forkserver._forkserver_pid is None
    assert_clean(repo)


def test_unknown_metric_key_is_warned_about_with_the_metrics_available(repo):
    """Issue 14: an unknown metric is refused before any trial runs unless --new-metric."""
    refused = run_cli(
        repo, "sweep", "-S", "train.lr=0.01,0.02", "--metric", "val.nope", check=False
    )
    assert refused.returncode == 2
    assert "metric 'val.nope' is not among the baseline's metrics" in refused.stderr
    assert "live/metrics.json:val.acc" in refused.stderr and exp_refs(repo) == {}
    # issue 18: a new metric's name says no direction, so it is given
    proc = run_cli(
        repo,
        "sweep",
        "-S",
        "train.lr=0.01,0.02",
        "--metric",
        "val.nope",
        "--new-metric",
        "--mode",
        "max",
    )
    assert "warning: metric 'val.nope' matched no single numeric metric" in proc.stderr
    assert "live/metrics.json:val.acc" in proc.stderr
    assert proc.stderr.count("warning: metric") == 1
