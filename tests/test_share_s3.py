"""Checkpoints on an S3 DVC remote, end to end against a real S3 API (issue 23): moto in server
mode on 127.0.0.1 (tests/s3_helpers.py), a bare git remote on disk and fresh clones.

Clone A runs two experiments and `expbook push`es them; a fresh clone B pulls them, restores one
experiment's checkpoint with `dvc exp apply` + `dvc pull` and gets the other's with `expbook
model get`, byte-equal to A's; with a second pusher C on the same bucket, B restores either.
`expbook push` checks every cached output on the bucket, sends what is missing and names what
it cannot; a stopped server, a wrong endpoint or a missing bucket is one error line before
anything is sent (no exp ref, no note reaches the git remote), and the push after the server is
back sends everything.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import commit_all, dvc, git_init, sh
from s3_helpers import MotoS3, closed_port, set_s3_env
from test_sweep_support import DVC_YAML, run_cli, tiny_repo

pytestmark = pytest.mark.slow

BUCKET = "team"
ARTIFACTS = "artifacts:\n  tiny:\n    path: model.bin\n    type: model\n"
# a metric DVC caches (only the cache, and the bucket, hold it): what `expbook show` reads
SUMMARY = """\
  summary:
    cmd: python -c "import json; a = json.load(open('live/metrics.json'))['val']['acc']; json.dump(dict(checkpoint_acc=a), open('summary.json', 'w'))"
    deps: [live/metrics.json]
    metrics: [summary.json]
"""


@pytest.fixture(scope="module")
def server():
    moto = MotoS3().start()
    try:
        yield moto
    finally:
        moto.stop()


@pytest.fixture
def s3(server: MotoS3, monkeypatch, tmp_path) -> MotoS3:
    """The module's server, running (a test may have stopped it), with an empty bucket."""
    set_s3_env(monkeypatch, tmp_path)
    if not server.running:
        server.start()
    server.empty(BUCKET)
    return server


@pytest.fixture(scope="module")
def template(server: MotoS3, tmp_path_factory) -> Path:
    """The tiny pipeline (model.bin cached, declared as artifact `tiny`), the S3 remote
    committed as the default, a cached metric summary.json, and two experiments e1 (lr 0.001)
    and e2 (lr 0.002): four cached outputs."""
    repo = tiny_repo(tmp_path_factory.mktemp("s3-template") / "repo", tmp_path_factory)
    (repo / "dvc.yaml").write_text(DVC_YAML + SUMMARY + ARTIFACTS)
    dvc("remote", "add", "-d", "s3", f"s3://{BUCKET}/dvc", cwd=repo)
    dvc("remote", "modify", "s3", "endpointurl", server.url, cwd=repo)
    commit_all(repo, "S3 remote; model.bin is artifact tiny")
    for name, lr in (("e1", "0.001"), ("e2", "0.002")):
        dvc("exp", "run", "-q", "-S", f"train.lr={lr}", "-n", name, cwd=repo)
    return repo


@pytest.fixture
def repo(template: Path, s3: MotoS3, tmp_path: Path) -> Path:
    """Clone A: the template with its experiments, `origin` a bare repo holding main."""
    repo = tmp_path / "a"
    shutil.copytree(template, repo, symlinks=True)
    sh("git", "init", "-q", "--bare", tmp_path / "remote.git")
    sh("git", "remote", "add", "origin", tmp_path / "remote.git", cwd=repo)
    sh("git", "push", "-q", "origin", "main", cwd=repo)
    return repo


def _clone(tmp_path: Path, name: str) -> Path:
    clone = tmp_path / name
    sh("git", "clone", "-q", "-b", "main", tmp_path / "remote.git", clone)
    return git_init(clone)  # the identity (init on an existing repo only sets config)


def _remote_refs(tmp_path: Path) -> list[str]:
    out = sh("git", "ls-remote", tmp_path / "remote.git", cwd=tmp_path).stdout
    return sorted(line.split("\t")[1] for line in out.splitlines() if "refs/heads/" not in line)


def _md5(repo: Path, exp: str) -> str:
    """The md5 of model.bin in exp's dvc.lock (read from git: no workspace change)."""
    import yaml

    sha = sh("git", "rev-parse", f"refs/exps/{_exp_ref(repo, exp)}", cwd=repo).stdout.strip()
    lock = yaml.safe_load(sh("git", "show", f"{sha}:dvc.lock", cwd=repo).stdout)
    return next(o["md5"] for o in lock["stages"]["train"]["outs"] if o["path"] == "model.bin")


def _exp_ref(repo: Path, exp: str) -> str:
    refs = sh("git", "for-each-ref", "--format=%(refname)", "refs/exps", cwd=repo).stdout.split()
    return next(r.removeprefix("refs/exps/") for r in refs if r.endswith("/" + exp))


def _cached(repo: Path, md5: str) -> Path:
    return repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_two_experiments_reach_s3_and_a_fresh_clone_restores_their_checkpoints(repo, s3, tmp_path):
    pushed = run_cli(repo, "push", "origin")
    assert "DVC remote 's3' (s3://team/dvc)" in pushed.stdout
    assert "4 cached output(s) checked on DVC remote 's3'" in pushed.stdout
    e1, e2 = _md5(repo, "e1"), _md5(repo, "e2")
    keys = s3.keys(BUCKET)
    assert len(keys) == 4 and {f"dvc/files/md5/{m[:2]}/{m[2:]}" for m in (e1, e2)} <= set(keys)

    clone = _clone(tmp_path, "b")
    pulled = run_cli(clone, "pull", "origin")
    assert "neither in the local cache" not in pulled.stderr, pulled.stderr
    for md5 in (e1, e2):  # `dvc exp pull` brought both checkpoints from the bucket
        assert _cached(clone, md5).read_bytes() == _cached(repo, md5).read_bytes()
    shown = run_cli(clone, "show", "e1").stdout  # its cached metric, read from what S3 sent
    assert "checkpoint_acc" in shown, shown

    shutil.rmtree(clone / ".dvc" / "cache")  # again, from S3 alone
    dvc("exp", "apply", "e2", cwd=clone, check=False)  # its checkout step has no cache yet
    dvc("pull", cwd=clone)
    assert (clone / "model.bin").read_bytes() == _cached(repo, e2).read_bytes()
    assert (clone / "model.bin").read_bytes() == b"model 0.002 0.0 0"

    # expbook's own reader of outputs: e1's checkpoint is in neither clone B's cache nor its
    # workspace; register checks it is on the bucket, get fetches it from there
    run_cli(clone, "model", "register", "tiny", "e1")
    got = run_cli(clone, "model", "get", "tiny", "--version", "v0.0.1", "-o", "got.bin")
    assert "(from the remote)" in got.stdout
    assert (clone / "got.bin").read_bytes() == _cached(repo, e1).read_bytes()


def test_push_to_a_stopped_server_is_one_line_sends_nothing_and_a_retry_sends_all(
    repo, s3, tmp_path
):
    run_cli(repo, "note", "e1", "the one to keep")
    s3.stop()
    failed = run_cli(repo, "push", "origin", check=False)
    assert failed.returncode == 2
    line = _one_error_line(failed.stderr)
    assert "cannot reach DVC remote 's3' (s3://team/dvc): Could not connect" in line
    assert f"127.0.0.1:{s3.port}" in line and "nothing was pushed" in line
    assert _remote_refs(tmp_path) == []  # no exp ref, no note went ahead of the checkpoints
    local = sh("git", "for-each-ref", "--format=%(refname)", cwd=repo).stdout
    assert local.count("refs/exps/") >= 2 and "refs/notes/expbook" in local

    s3.start()  # same port, same bucket
    again = run_cli(repo, "push", "origin")
    assert "4 cached output(s) checked on DVC remote 's3'" in again.stdout
    assert len(s3.keys(BUCKET)) == 4
    refs = _remote_refs(tmp_path)
    assert "refs/notes/expbook" in refs and sum(r.startswith("refs/exps/") for r in refs) == 2

    clone = _clone(tmp_path, "b")
    run_cli(clone, "pull", "origin")
    shown = run_cli(clone, "show", "e1")
    assert "the one to keep" in shown.stdout
    dvc("exp", "apply", "e1", cwd=clone, check=False)
    dvc("pull", cwd=clone)
    assert (clone / "model.bin").read_bytes() == b"model 0.001 0.0 0"

    s3.stop()  # a teammate pulls while the server is down: one line; later, everything
    late = _clone(tmp_path, "c")
    failed = run_cli(late, "pull", "origin", check=False)
    assert failed.returncode == 2
    line = _one_error_line(failed.stderr)  # DVC says it in two lines
    assert "dvc exp pull failed: failed to connect to s3" in line and "Could not connect" in line
    s3.start()
    run_cli(late, "pull", "origin")  # the refs came the first time; now the checkpoints too
    assert _cached(late, _md5(repo, "e1")).read_bytes() == b"model 0.001 0.0 0"


def test_a_wrong_endpoint_or_a_missing_bucket_is_one_line_before_anything_is_sent(
    repo, s3, tmp_path
):
    wrong = f"http://127.0.0.1:{closed_port()}"
    dvc("remote", "modify", "--local", "s3", "endpointurl", wrong, cwd=repo)
    failed = run_cli(repo, "push", "origin", check=False)
    assert failed.returncode == 2
    assert (
        f"cannot reach DVC remote 's3' (s3://team/dvc): Could not connect to the endpoint URL: \"{wrong}/team"
        in _one_error_line(failed.stderr)
    )

    (repo / ".dvc" / "config.local").unlink()
    dvc("remote", "modify", "--local", "s3", "url", "s3://no-such-bucket/dvc", cwd=repo)
    failed = run_cli(repo, "push", "origin", check=False)
    assert failed.returncode == 2
    line = _one_error_line(failed.stderr)
    assert "cannot push to DVC remote 's3' (s3://no-such-bucket/dvc)" in line
    assert f"bucket 'no-such-bucket' does not exist at {s3.url}" in line
    assert _remote_refs(tmp_path) == [] and s3.keys(BUCKET) == []

    (repo / ".dvc" / "config.local").unlink()
    run_cli(repo, "push", "origin")  # the committed config again: everything goes
    assert len(s3.keys(BUCKET)) == 4


def test_push_resends_what_left_the_bucket_and_names_what_it_cannot(repo, s3, tmp_path):
    run_cli(repo, "push", "origin")
    e1 = _md5(repo, "e1")
    key = f"dvc/files/md5/{e1[:2]}/{e1[2:]}"
    s3.client().delete_object(Bucket=BUCKET, Key=key)
    again = run_cli(repo, "push", "origin")
    # back on the bucket (sent by `dvc exp push`, or by expbook's check after it)
    assert "4 cached output(s) checked on DVC remote 's3'" in again.stdout
    assert key in s3.keys(BUCKET)

    s3.client().delete_object(Bucket=BUCKET, Key=key)
    _cached(repo, e1).unlink()  # now nowhere but in git's dvc.lock
    failed = run_cli(repo, "push", "origin", check=False)
    assert failed.returncode == 1, failed.stderr
    assert "1 output(s) of 1 experiment(s) are not on DVC remote 's3': e1: model.bin" in (
        failed.stderr
    )
    assert "Traceback" not in failed.stderr


def test_output_check_with_the_server_down_is_an_expbook_error(repo, s3):
    """issue 23: botocore's connection error escaped ensure_shared as a traceback."""
    from expbook.errors import ExpbookError
    from expbook.share import outputs

    s3.stop()
    with pytest.raises(ExpbookError, match="DVC remote unreachable: Could not connect"):
        outputs.ensure_shared(repo)


def test_two_clones_push_to_one_bucket_and_a_third_restores_either(repo, s3, tmp_path):
    """The acceptance's team: A and C push experiments (with checkpoints) to one git remote
    and one bucket; a fresh clone B pulls both and restores one of each from S3."""
    run_cli(repo, "push", "origin")
    other = _clone(tmp_path, "c")
    dvc("exp", "run", "-q", "-S", "train.lr=0.003", "-n", "c1", cwd=other)
    pushed = run_cli(other, "push", "origin")
    assert "2 cached output(s) checked on DVC remote 's3'" in pushed.stdout  # c1's own two
    assert len(s3.keys(BUCKET)) == 6

    clone = _clone(tmp_path, "b")
    run_cli(clone, "pull", "origin")
    refs = sh("git", "for-each-ref", "--format=%(refname:lstrip=-1)", "refs/exps", cwd=clone)
    assert {"e1", "e2", "c1"} <= set(refs.stdout.split())
    shutil.rmtree(clone / ".dvc" / "cache")  # restore from S3 alone
    for exp, body in (("c1", b"model 0.003 0.0 0"), ("e1", b"model 0.001 0.0 0")):
        dvc("exp", "apply", exp, cwd=clone, check=False)
        dvc("pull", cwd=clone)
        assert (clone / "model.bin").read_bytes() == body
    assert (clone / "model.bin").read_bytes() == _cached(repo, _md5(repo, "e1")).read_bytes()


def test_push_without_credentials_says_so(repo, s3, tmp_path, monkeypatch):
    """issue 23 review: with no AWS credentials (no environment, no ~/.aws) push said
    "cannot reach DVC remote 's3' ...: Unable to locate credentials", as if the server were
    down, and named no way to set them."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(key)
    failed = run_cli(repo, "push", "origin", check=False)
    assert failed.returncode == 2
    line = _one_error_line(failed.stderr)
    assert "cannot push to DVC remote 's3' (s3://team/dvc): no AWS credentials found" in line
    assert "AWS_ACCESS_KEY_ID" in line and "nothing was pushed" in line
    assert _remote_refs(tmp_path) == [] and s3.keys(BUCKET) == []
