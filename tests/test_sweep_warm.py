"""`expbook sweep --warm-stages`: stage commands run forked from a warm process give the same
outputs, exp refs, failures and process state as plain runs (real git+DVC repos, tiny pipeline;
the demo pipeline check is marked slow).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import commit_all, dvc, dvc_init, git_init, sh
from expbook.errors import SpecError
from expbook.sweep.spec import load_spec
from expbook.sweep.warm import plan
from test_sweep_support import exp_refs, exp_show

# a stage that also records, outside the repo ($WARM_PROBE), what its process looks like
TRAIN_PY = textwrap.dedent("""\
    import json, os, sys
    import yaml
    p = yaml.safe_load(open("params.yaml"))["train"]
    probe = os.environ.get("WARM_PROBE")
    if probe:
        with open(f"/proc/{os.getppid()}/cmdline", "rb") as fh:
            parent = fh.read().replace(b"\\0", b" ").decode()
        state = {
            "warm": "warmserver.py" in parent,
            "argv": sys.argv, "path": sys.path, "cwd": os.getcwd(), "name": __name__,
            "file": __file__, "env": dict(os.environ), "exe": sys.executable,
            "main": sorted(k for k in globals()), "stdout": [sys.stdout.name,
            sys.stdout.line_buffering, sys.stderr.line_buffering, sys.stdout.encoding],
        }
        with open(probe, "a") as fh:
            fh.write(json.dumps(state) + "\\n")
    if p["lr"] == 0.9:  # lets a test interrupt the sweep while this stage runs
        with open(os.environ["WARM_PID"], "w") as fh:
            fh.write(str(os.getpid()))
        import time
        time.sleep(120)
    if p["lr"] == 0.5:
        print("train: exit 3 asked", file=sys.stderr)
        sys.exit(3)
    if p["lr"] == 0.7:
        raise ValueError("train: lr 0.7 is bad")
    os.makedirs("live", exist_ok=True)
    with open("live/metrics.json", "w") as f:
        json.dump({"val": {"acc": round(1 - abs(p["lr"] - 0.01) * 10, 6)}}, f)
    with open("model.bin", "w") as f:
        f.write("model %s" % p["lr"])
    print("trained", p["lr"])
""")

DVC_YAML = """\
stages:
  train:
    cmd: {cmd}
    deps: [train.py]
    params: [train]
    outs: [model.bin]
    metrics:
      - live/metrics.json:
          cache: false
"""


def make_repo(path: Path, cmd: str = "python train.py") -> Path:
    path.mkdir(parents=True)
    git_init(path)
    dvc_init(path)
    (path / "train.py").write_text(TRAIN_PY)
    (path / "dvc.yaml").write_text(DVC_YAML.format(cmd=cmd))
    (path / "params.yaml").write_text("train:\n  lr: 0.01\n")
    dvc("repro", "-q", cwd=path)
    commit_all(path, "tiny pipeline")
    return path


def sweep(repo: Path, probe: Path, *args: str, shell: str | None = None) -> dict:
    env = {**os.environ, "WARM_PROBE": str(probe)}
    if shell is not None:  # DVC runs stage commands with $SHELL, or /bin/sh when it is unset
        env.pop("SHELL", None)
        if shell:
            env["SHELL"] = shell
    proc = subprocess.run(
        [sys.executable, "-c", "from expbook.cli import main; main()", "sweep", *args, "--json"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.stdout, proc.stderr
    return json.loads(proc.stdout)


def probes(path: Path, repo: Path) -> list[dict]:
    text = path.read_text().replace(str(repo), "REPO")
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.parametrize("shell", ["/bin/bash", ""], ids=["bash", "sh"])
def test_warm_sweep_matches_plain_outputs_refs_failures_and_process_state(tmp_path, shell):
    args = ("-S", "train.lr=0.001,0.02,0.5,0.7", "-m", "val.acc", "--name", "w")
    repos, outs, seen = {}, {}, {}
    for mode in ("plain", "warm"):
        repos[mode] = make_repo(tmp_path / mode)
        flag = ("--warm-stages",) if mode == "warm" else ()
        probe = tmp_path / f"{mode}.jsonl"
        outs[mode] = sweep(repos[mode], probe, *args, *flag, shell=shell)
        seen[mode] = probes(probe, repos[mode])
    assert [p["warm"] for p in seen["plain"]] == [False] * 4
    assert [p["warm"] for p in seen["warm"]] == [True] * 4
    for p in seen["plain"] + seen["warm"]:
        del p["warm"]
    assert seen["warm"] == seen["plain"]  # argv, sys.path, cwd, env, __main__, stdio
    statuses = {m: [(t["name"], t["status"]) for t in outs[m]["trials"]] for m in outs}
    assert (
        statuses["warm"]
        == statuses["plain"]
        == [
            ("w-001", "success"),
            ("w-002", "success"),
            ("w-003", "failed"),
            ("w-004", "failed"),
        ]
    )
    # exit 3, and the exception's traceback: the same words
    errors = {
        m: [str(t.get("error")).replace(str(repos[m]), "R") for t in outs[m]["trials"]]
        for m in outs
    }
    assert errors["warm"] == errors["plain"]
    assert (
        "exit 3 asked" in errors["warm"][2]
        and "ValueError: train: lr 0.7 is bad" in (errors["warm"][3])
    )
    refs = {m: exp_refs(repos[m]) for m in repos}
    assert sorted(refs["warm"]) == sorted(refs["plain"]) == ["w-001", "w-002"]
    for name in refs["warm"]:
        for file in ("dvc.lock", "live/metrics.json", "params.yaml"):
            a, b = (
                sh("git", "show", f"{refs[m][name]}:{file}", cwd=repos[m]).stdout for m in repos
            )
            assert a == b, (name, file)
    shown = {m: exp_show(repos[m]) for m in repos}
    for name in refs["warm"]:
        assert shown["warm"][name]["data"]["metrics"] == shown["plain"][name]["data"]["metrics"]
    logs = {
        m: sorted(p.name for p in (repos[m] / ".dvc/tmp/expbook/logs/w").iterdir()) for m in repos
    }
    assert logs["warm"] == logs["plain"] == ["w-003.log", "w-004.log"]
    for name in logs["warm"]:
        texts = {m: (repos[m] / ".dvc/tmp/expbook/logs/w" / name).read_text() for m in repos}
        assert texts["warm"].replace(str(repos["warm"]), "R") == texts["plain"].replace(
            str(repos["plain"]), "R"
        )


def test_warm_sweep_runs_a_shell_command_the_normal_way(tmp_path):
    repo = make_repo(tmp_path / "repo", cmd="python train.py | tee train.txt")
    out = sweep(
        repo,
        tmp_path / "probe.jsonl",
        "-S",
        "train.lr=0.001,0.02",
        "-m",
        "val.acc",
        "--warm-stages",
    )
    assert [t["status"] for t in out["trials"]] == ["success", "success"]
    assert [p["warm"] for p in probes(tmp_path / "probe.jsonl", repo)] == [False, False]


def test_interrupting_the_sweep_stops_a_warm_stage(tmp_path):
    repo = make_repo(tmp_path / "repo")
    pidfile = tmp_path / "stage.pid"
    env = {**os.environ, "WARM_PID": str(pidfile), "WARM_PROBE": str(tmp_path / "p.jsonl")}
    cli = [sys.executable, "-c", "from expbook.cli import main; main()", "sweep"]
    args = ["-S", "train.lr=0.9,0.91", "-m", "val.acc", "--warm-stages"]
    proc = subprocess.Popen(
        [*cli, *args], cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.time() + 60
        while not (pidfile.exists() and pidfile.read_text()) and time.time() < deadline:
            assert proc.poll() is None, "the sweep ended early"
            time.sleep(0.1)
        pid = int(pidfile.read_text())
        assert probes(tmp_path / "p.jsonl", repo)[0]["warm"]
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        proc.wait(timeout=60)
        deadline = time.time() + 10
        while _alive(pid) and time.time() < deadline:
            time.sleep(0.1)
        assert not _alive(pid)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", []), ("false", None), ("[torch, numpy.linalg]", ["torch", "numpy.linalg"])],
)
def test_warm_stages_spec_key(tmp_path, value, expected):
    path = tmp_path / "s.yaml"
    path.write_text(f"metric: val.acc\nparams:\n  train.lr: [0.1, 0.2]\nwarm_stages: {value}\n")
    assert load_spec(path).warm_stages == expected


@pytest.mark.parametrize("value", ["3", "[torch, 'a b']", "[]"])
def test_bad_warm_stages_spec_key_names_it(tmp_path, value):
    path = tmp_path / "s.yaml"
    path.write_text(f"metric: val.acc\nparams:\n  train.lr: [0.1, 0.2]\nwarm_stages: {value}\n")
    with pytest.raises(SpecError, match="warm_stages"):
        load_spec(path)


@pytest.mark.parametrize(
    "cmd",
    [
        "python train.py | tee log",
        "python train.py > out",
        "python -c print(1)",
        "python -u train.py",
        "python $SCRIPT",
        "python 'train.py'",
        "python *.py",
        "PATH=/x python train.py",
        "python3.99 train.py",
        "cd sub && python train.py",
    ],
)
def test_commands_the_shell_would_treat_differently_run_the_normal_way(tmp_path, cmd):
    (tmp_path / "train.py").write_text("")
    assert plan(cmd, str(tmp_path), dict(os.environ), "/bin/bash") is None


# environments that bash and dash pass on differently from what they got
ENV_CASES = {
    "inherited _": {"_": "/usr/bin/make"},
    "no _": {"_": None},
    "no SHLVL": {"SHLVL": None},
    "SHLVL 05": {"SHLVL": "05"},
    "OLDPWD gone": {"OLDPWD": "/nonexistent/dir"},
    "IFS": {"IFS": ","},
    "no shell name": {"a.b": "1", "A-B": "2"},
    "prompts": {"PS1": "$ ", "PS2": "> "},
    "OLDPWD relative": {"OLDPWD": "sub"},  # a folder of the stage's directory
    "OLDPWD relative gone": {"OLDPWD": "src"},
}


@pytest.mark.parametrize("shell", ["/bin/sh", "/bin/bash", "bash"])
@pytest.mark.parametrize("case", list(ENV_CASES))
@pytest.mark.parametrize("exe", ["absolute", "relative"])
def test_planned_environment_is_what_the_real_shell_gives_the_command(tmp_path, shell, case, exe):
    (tmp_path / "t.py").write_text("import json, os; print(json.dumps(dict(os.environ)))")
    (tmp_path / "sub").mkdir()
    env = dict(os.environ)
    for name, value in ENV_CASES[case].items():
        env.pop(name, None)
        if value is not None:
            env[name] = value
    # relative (`../../venv/bin/python t.py`): bash's `_` is the command as written
    python = os.path.relpath(sys.executable, tmp_path) if exe == "relative" else sys.executable
    cmd = f"{python} t.py"
    req = plan(cmd, str(tmp_path), env, shell)
    assert req is not None
    ran = subprocess.run(
        [shutil.which(shell) or shell, "-c", cmd], cwd=tmp_path, env=env, capture_output=True
    )
    assert req["env"] == json.loads(ran.stdout)  # `_`, PWD, SHLVL, OLDPWD, IFS, names


# environments a shell would act on in ways not copied: the stage runs DVC's way under
# the shells named (and warm under the other)
FALL_BACK = {
    "BASH_ENV": ({"BASH_ENV": "/etc/profile"}, {"bash"}),
    "POSIXLY_CORRECT": ({"POSIXLY_CORRECT": "1"}, {"bash"}),
    "SHLVL too high": ({"SHLVL": "1200"}, {"bash"}),
    "SHLVL word": ({"SHLVL": "x"}, {"bash"}),
    "SHLVL other digits": ({"SHLVL": "\u00b2"}, {"bash"}),
    "exported function": ({"BASH_FUNC_python%%": "() { echo hijacked; }"}, {"bash"}),
    "SHELLOPTS": ({"SHELLOPTS": "xtrace"}, {"bash"}),
    "PPID": ({"PPID": "1"}, {"bash", "dash"}),
    "OPTIND": ({"OPTIND": "3"}, {"bash", "dash"}),
    "relative PATH": ({"PATH": f"bin:{os.path.dirname(sys.executable)}"}, {"bash", "dash"}),
}


@pytest.mark.parametrize("case", list(FALL_BACK))
def test_shell_start_up_not_copied_runs_the_normal_way(tmp_path, case):
    (tmp_path / "t.py").write_text("")
    extra, falls_back = FALL_BACK[case]
    env = {**os.environ, "PATH": os.path.dirname(sys.executable), **extra}
    for shell, kind in (("/bin/bash", "bash"), ("/bin/dash", "dash")):
        planned = plan("python t.py", str(tmp_path), env, shell)
        assert (planned is None) == (kind in falls_back), (shell, case)
    assert plan(f"{sys.executable} t.py", str(tmp_path), {}, "/nonexistent/bash") is None


def test_a_restricted_shell_runs_the_normal_way(tmp_path):
    (tmp_path / "t.py").write_text("")
    (tmp_path / "rbash").symlink_to("/bin/bash")
    assert plan(f"{sys.executable} t.py", str(tmp_path), {}, str(tmp_path / "rbash")) is None


def test_a_prefix_the_shell_keeps_to_itself_runs_the_normal_way(tmp_path):
    (tmp_path / "t.py").write_text("")
    for name in ("PPID", "UID", "SHELLOPTS", "SHLVL", "IFS"):
        assert plan(f"{name}=1 {sys.executable} t.py", str(tmp_path), {}, "/bin/bash") is None


def test_plain_python_commands_are_planned_with_their_argv_and_path(tmp_path):
    (tmp_path / "train.py").write_text("")
    env = dict(os.environ)
    req = plan("python train.py --lr=0.1", str(tmp_path), env, "/bin/bash")
    assert req is not None and req["argv"] == ["train.py", "--lr=0.1"]
    assert req["path0"] == os.path.realpath(tmp_path)
    req = plan("PYTHONPATH=src python -m pipeline.train", str(tmp_path), env, "/bin/bash")
    assert req is not None and req["module"] == "pipeline.train"
    assert req["env"]["PYTHONPATH"] == "src" and req["path0"] == str(tmp_path)
    assert plan("python train.py", str(tmp_path), env, "/usr/bin/fish") is None


@pytest.mark.slow
def test_demo_pipeline_checkpoints_and_metrics_match_with_warm_stages(tmp_path):
    """The torch demo (train.epochs 1, two trials): identical checkpoints and metrics, and
    train + evaluate really ran warm."""
    from pipeline_helpers import make_repo as demo_repo
    from pipeline_helpers import without_timing

    args = ("-S", "train.lr=0.01,0.02", "-m", "val.acc", "--new-metric", "--name", "d")
    repos, logs = {}, {}
    for mode in ("plain", "warm"):
        repos[mode] = demo_repo(tmp_path / mode, {"train.epochs": 1})
        logs[mode] = tmp_path / f"{mode}.log"
        flag = ("--warm-stages",) if mode == "warm" else ()
        env = {**os.environ, "EXPBOOK_WARM_LOG": str(logs[mode])}
        proc = subprocess.run(
            [sys.executable, "-c", "from expbook.cli import main; main()", "sweep", *args, *flag],
            cwd=repos[mode],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
    assert not logs["plain"].exists()
    ran = sorted(logs["warm"].read_text().splitlines())
    assert [line.split("\t")[0] for line in ran] == ["warm"] * len(ran)
    assert any("pipeline.train" in x for x in ran) and any("pipeline.evaluate" in x for x in ran)
    refs = {m: exp_refs(repos[m]) for m in repos}
    assert sorted(refs["warm"]) == sorted(refs["plain"]) == ["d-001", "d-002"]
    for name in refs["warm"]:
        locks = {
            m: sh("git", "show", f"{refs[m][name]}:dvc.lock", cwd=repos[m]).stdout for m in repos
        }
        assert locks["warm"].count("md5") > 4
        # checkpoints and data: the same bytes; metrics: the same but for wall-clock values
        assert _out_md5s(locks["warm"]) == _out_md5s(locks["plain"])
    shown = {m: exp_show(repos[m]) for m in repos}
    for name in refs["warm"]:
        metrics = {m: without_timing(shown[m][name]["data"]["metrics"]) for m in repos}
        assert metrics["warm"] == metrics["plain"]


def _out_md5s(lock_text: str) -> dict:
    """path -> md5 of every cached out (checkpoints) in a dvc.lock."""
    import yaml

    doc = yaml.safe_load(lock_text)
    return {
        o["path"]: o.get("md5")
        for stage in doc["stages"].values()
        for o in stage.get("outs", [])
        if o["path"].startswith(("models", "data"))
    }


def test_warm_stages_with_the_ray_backend_is_an_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", "from expbook.cli import main; main()", "sweep", "-S",
         "train.lr=0.1,0.2", "-m", "val.acc", "--warm-stages", "--backend", "ray"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "Error: --warm-stages (warm_stages:) works with the local backend only" in proc.stderr
