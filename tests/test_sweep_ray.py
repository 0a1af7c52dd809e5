"""The Ray backend on a real two-node local Ray cluster, a bare git remote and a local DVC remote:
trials become the same exp refs, notes and registry rows as a local sweep; a killed Ray worker
or a killed driver loses and duplicates nothing. The cluster is killed even when a test fails.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cluster_helpers import RayCluster
from conftest import commit_all, dvc, sh
from test_sweep_support import exp_refs, exp_show, run_cli, tiny_repo

SPEC = "name: r\nmetric: val.acc\nparams:\n  train.lr: [0.001, 0.002, 0.003, 0.004]\nparallel: 2\n"


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    pytest.importorskip("ray")
    root = tmp_path_factory.mktemp("ray")
    # a fresh HOME for the cluster and the drivers: a ~/.ray/auth_token that an earlier local
    # `ray.init()` left makes `ray start --address` fail against a token-less head
    home = os.environ.get("HOME")
    os.environ["HOME"] = str(root / "home")
    (root / "home").mkdir()
    cluster = RayCluster(root)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
        if home is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = home


def remote_repo(tmp_path: Path, factory) -> Path:
    """The tiny pipeline with a bare git remote `origin` and a default local DVC remote."""
    repo = tiny_repo(tmp_path / "repo", factory)
    sh("git", "init", "-q", "--bare", tmp_path / "remote.git")
    sh("git", "remote", "add", "origin", tmp_path / "remote.git", cwd=repo)
    (tmp_path / "dvcstore").mkdir()
    dvc("remote", "add", "-q", "-d", "store", str(tmp_path / "dvcstore"), cwd=repo)
    commit_all(repo, "remotes")
    return repo


def ray_sweep(repo: Path, spec: Path, cluster: RayCluster, *extra: str, check: bool = True):
    return run_cli(
        repo, "sweep", str(spec), "--backend", "ray", "--ray-address", cluster.address,
        "--json", *extra, check=check,
    )  # fmt: skip


def rows(repo: Path) -> dict[str, dict]:
    data = json.loads(run_cli(repo, "registry", "--format", "json").stdout)
    # commit sha, time, and the dvc.lock digest in the message (the TSV rows carry timestamps)
    # differ between two runs of one trial
    drop = ("rev", "created", "message")
    out = {r["name"]: {k: v for k, v in r.items() if k not in drop} for r in data}
    for row in out.values():
        outs = row.get("outs") or {}
        outs.pop("live/plots/metrics", None)  # its TSV rows carry timestamps
        for info in outs.values():  # Ray trials' outputs are in the DVC remote, not our cache
            info.pop("in_cache", None)
    return out


@pytest.mark.slow
def test_ray_sweep_gives_the_refs_notes_and_rows_of_a_local_sweep(
    ray_cluster, tmp_path, tmp_path_factory
):
    repo = remote_repo(tmp_path, tmp_path_factory)
    local = tmp_path / "local"
    shutil.copytree(repo, local, symlinks=True)
    spec = tmp_path / "r.yaml"
    spec.write_text(SPEC)

    out = json.loads(ray_sweep(repo, spec, ray_cluster).stdout)
    assert [t["status"] for t in out["trials"]] == ["success"] * 4
    refs = exp_refs(repo)
    assert sorted(refs) == ["r-001", "r-002", "r-003", "r-004"]
    assert set(exp_show(repo)) >= set(refs)
    # trials ran on both nodes, each in its own clone (never the driver's checkout)
    for workdir in ray_cluster.workdirs:
        assert list(workdir.glob("*/repo/.git")), f"no trial ran on {workdir.name}"
    assert sh("git", "worktree", "list", cwd=repo).stdout.count("\n") == 1
    # the remote got every trial once; the hidden baseline ref is gone again
    remote_refs = sh("git", "ls-remote", "origin", cwd=repo).stdout
    assert remote_refs.count("refs/exps/") == 4
    assert "refs/expbook/baselines" not in remote_refs

    run_cli(local, "sweep", str(spec), "--json")
    ours, theirs = rows(repo), rows(local)
    diff = {
        (name, k): (row.get(k), theirs.get(name, {}).get(k))
        for name, row in ours.items()
        for k in set(row) | set(theirs.get(name, {}))
        if row.get(k) != theirs.get(name, {}).get(k)
    }
    assert sorted(ours) == sorted(theirs)
    assert not diff, json.dumps({str(k): v for k, v in diff.items()})

    # the checkpoint comes back from the DVC remote: the driver's cache never held it, so
    # `dvc exp apply` applies the params and lock but reports the missing output; `dvc pull`
    # then fetches it
    applied = dvc("exp", "apply", "r-002", cwd=repo, check=False)
    assert "model.bin" in applied.stderr + applied.stdout or applied.returncode == 0
    assert "lr: 0.002" in (repo / "params.yaml").read_text()
    dvc("pull", "-q", cwd=repo)
    assert (repo / "model.bin").read_text() == "model 0.002 0.0 0"


@pytest.mark.slow
def test_killed_ray_worker_retries_the_trial_once(ray_cluster, tmp_path, tmp_path_factory):
    """A Ray worker SIGKILLed mid-trial: Ray runs the task again; one ref per trial."""
    repo = remote_repo(tmp_path, tmp_path_factory)
    pidfile = tmp_path / "stage.pid"
    spec = tmp_path / "k.yaml"
    spec.write_text(
        "name: k\nmetric: val.acc\nparams:\n  train.lr: [0.05, 0.02]\n  train.epochs: 4\n"
        f"  train.sleep: 0.5\n  train.pidfile: {pidfile}\nparallel: 2\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", "from expbook.cli import main; main()", "sweep", str(spec),
         "--backend", "ray", "--ray-address", ray_cluster.address, "--json"],
        cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        end = time.time() + 180
        while not pidfile.exists() or not pidfile.read_text().strip():
            assert time.time() < end and proc.poll() is None, "the trial never started"
            time.sleep(0.1)
        worker = ray_cluster.worker_of(int(pidfile.read_text()))
        assert worker is not None
        pidfile.unlink()
        os.kill(worker, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    out = json.loads(stdout)
    assert {t["name"]: t["status"] for t in out["trials"]} == {
        "k-001": "success",
        "k-002": "success",
    }
    assert pidfile.exists()  # the trial really ran a second time
    assert sorted(exp_refs(repo)) == ["k-001", "k-002"]
    assert sh("git", "ls-remote", "origin", cwd=repo).stdout.count("refs/exps/") == 2


@pytest.mark.slow
def test_killed_ray_driver_resumes_on_rerun(ray_cluster, tmp_path, tmp_path_factory):
    repo = remote_repo(tmp_path, tmp_path_factory)
    spec = tmp_path / "d.yaml"
    spec.write_text(
        "name: d\nmetric: val.acc\nparams:\n"
        "  train.lr: [0.001, 0.002, 0.003, 0.004, 0.005]\n  train.sleep: 0.4\nparallel: 2\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", "from expbook.cli import main; main()", "sweep", str(spec),
         "--backend", "ray", "--ray-address", ray_cluster.address, "--json"],
        cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        end = time.time() + 180
        while not exp_refs(repo):
            assert time.time() < end and proc.poll() is None, "no trial finished"
            time.sleep(0.1)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    before = exp_refs(repo)
    out = json.loads(ray_sweep(repo, spec, ray_cluster).stdout)
    after = exp_refs(repo)
    assert {k: after[k] for k in before} == before  # finished trials kept, not re-run
    assert out["skipped"] == len(before)
    done = sorted(t["config"]["train.lr"] for t in out["trials"] if t["status"] == "success")
    errors = [t["error"] for t in out["trials"] if t["status"] != "success"]
    assert done == [0.001, 0.002, 0.003, 0.004, 0.005], errors
    assert len(after) == 5
    assert sh("git", "status", "--porcelain", cwd=repo).stdout == ""
    assert sh("git", "worktree", "list", cwd=repo).stdout.count("\n") == 1
    sh("git", "fsck", "--no-progress", cwd=repo)


@pytest.mark.slow
def test_without_remotes_trials_travel_as_bundles_and_share_the_cache(
    ray_cluster, tmp_path, tmp_path_factory
):
    """No git remote: baseline and results go as git bundles through Ray's object store; no
    DVC remote: trials run on the driver's node and write into the repo's own DVC cache."""
    repo = tiny_repo(tmp_path / "repo", tmp_path_factory)
    spec = tmp_path / "b.yaml"
    spec.write_text("name: b\nmetric: val.acc\nparams:\n  train.lr: [0.003, 0.004]\nparallel: 2\n")
    out = json.loads(ray_sweep(repo, spec, ray_cluster).stdout)
    assert [t["status"] for t in out["trials"]] == ["success", "success"]
    assert sorted(exp_refs(repo)) == ["b-001", "b-002"]
    dvc("exp", "apply", "b-002", cwd=repo)  # the output is in the local cache already
    assert (repo / "model.bin").read_text() == "model 0.004 0.0 0"


@pytest.mark.slow
def test_pruning_reaches_trials_on_other_nodes(ray_cluster, tmp_path, tmp_path_factory):
    """The driver's stop request travels to the node through the progress actor."""
    repo = remote_repo(tmp_path, tmp_path_factory)
    spec = tmp_path / "p.yaml"
    spec.write_text(
        "name: pr\nmetric: {key: val.acc, mode: max}\n"
        "params:\n  train.lr: [0.01, 0.02, 0.09, 0.095]\n  train.epochs: 16\n"
        "  train.sleep: 0.25\nprune: {method: median, min_epochs: 1}\n"
    )
    out = json.loads(ray_sweep(repo, spec, ray_cluster).stdout)
    status = {t["name"]: t["status"] for t in out["trials"]}
    assert status["pr-001"] == "success" and status["pr-002"] == "success"
    pruned = [t for t in out["trials"] if t["status"] == "pruned"]
    assert pruned
    tsv = sh("git", "show", f"{pruned[0]['rev']}:live/plots/metrics/val/acc.tsv", cwd=repo).stdout
    assert 1 < len(tsv.splitlines()) - 1 < 16  # stopped early, partial curve kept


def test_ray_backend_without_ray_names_the_extra(tmp_path, tmp_path_factory):
    repo = tiny_repo(tmp_path / "repo", tmp_path_factory)
    proc = subprocess.run(
        [sys.executable, "-c",
         "import sys; sys.modules['ray'] = None; from expbook.cli import main; main()",
         "sweep", "-S", "train.lr=0.1,0.2", "--metric", "val.acc", "--backend", "ray"],
        cwd=repo, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "expbook[ray]" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not exp_refs(repo)


@pytest.mark.parametrize(
    ("backend", "message"),
    [
        ("backend: slurm", "unknown backend 'slurm'"),
        ("backend: {ray: {adress: auto}}", "backend.ray.adress: unknown option"),
        ("backend: {ray: {num_cpus_per_trial: -1}}", "must be a number >= 0"),
        ("backend: {ray: {max_retries: 9}}", "must be an integer 0..3"),
    ],
)
def test_bad_backend_in_spec_is_an_error_naming_the_key(tmp_path, backend, message):
    from expbook.errors import SpecError
    from expbook.sweep import load_spec

    spec = tmp_path / "b.yaml"
    spec.write_text(f"metric: val.acc\nparams:\n  train.lr: [0.1, 0.2]\n{backend}\n")
    with pytest.raises(SpecError, match=message.replace(".", r"\.").replace("(", r"\(")):
        load_spec(spec)


def test_backend_in_spec_is_parsed():
    from expbook.sweep.spec import _Ctx, build_spec

    spec = build_spec(
        {"metric": "val.acc", "params": {"train.lr": [0.1, 0.2]},
         "backend": {"ray": {"address": "auto", "num_gpus_per_trial": 1}}},
        _Ctx("<test>"),
    )  # fmt: skip
    assert spec.backend["name"] == "ray"
    assert spec.backend["address"] == "auto"
    assert spec.backend["num_gpus_per_trial"] == 1.0
