"""Issue 19, the hostile review after the fixes: neighbours of the named failures that still
broke. Each test names what it guards; every one failed on the code before its fix.

- a note or a sweep state ref nested past Python's recursion limit (RecursionError traceback);
- a sweep state of the wrong shape (a JSON list, trials that are no list, a spec that is no
  object or has no metrics: TypeError/AttributeError/IndexError tracebacks);
- gc's listing printed experiment names and refs raw (ESC, U+202E reached the terminal);
- a tag with a control character was accepted (and reached every listing of it).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import sh
from test_hostile_objects import exp_ref, git_out, make_repo

RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def expbook(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`expbook ARGS` in a fresh interpreter (UTF-8 to a pipe), never hanging."""
    return subprocess.run(
        [sys.executable, "-m", "expbook", *args],
        cwd=path,
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=120,
        env={**__import__("os").environ, "PYTHONIOENCODING": "utf-8", "COLUMNS": "200"},
    )


def one_error_line(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode not in (0, 1), proc.stdout + proc.stderr  # 1: an uncaught exception
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].lower().startswith("error:"), proc.stderr
    for w in words:
        assert w in lines[0], lines[0]


def raw_note(path: Path, sha: str, text: str, force: bool = False) -> None:
    """Write `text` as the expbook note of `sha` with git itself (no expbook checks)."""
    (path.parent / "note.txt").write_text(text)
    force_flag = ["-f"] if force else []
    sh(
        "git",
        "notes",
        "--ref=expbook",
        "add",
        *force_flag,
        "-F",
        path.parent / "note.txt",
        sha,
        cwd=path,
    )


@pytest.fixture
def repo(tmp_path) -> tuple[Path, dict[str, str]]:
    path = tmp_path / "repo"
    return path, make_repo(path)


# ---------------------------------------------------------------- a note nested too deeply
def test_a_note_nested_past_the_recursion_limit_is_an_error_row(repo):
    """issue 19 review: a note `[[[[...` 200,000 deep killed `registry` and `show` with a
    RecursionError traceback (json.loads); it is the row's error now."""
    path, shas = repo
    raw_note(path, shas["good"], "[" * 200_000 + "]" * 200_000)
    proc = expbook(path, "registry", "-f", "json")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "note is JSON nested too deeply to read" in proc.stdout
    shown = expbook(path, "show", "good")
    assert shown.returncode == 0 and "Traceback" not in shown.stderr, shown.stderr


# ---------------------------------------------------------------- sweep state of a bad shape
def put_state(path: Path, name: str, content: str) -> str:
    blob = git_out(path, "hash-object", "-w", "--stdin", stdin=content)
    tree = git_out(path, "mktree", stdin=f"100644 blob {blob}\tstate.json\n")
    commit = git_out(path, "commit-tree", "-m", "state", tree)
    ref = f"refs/expbook/sweeps/{name}"
    sh("git", "update-ref", ref, commit, cwd=path)
    return ref


GOOD_SPEC = '{"metrics": [{"key": "acc", "mode": "max"}]}'


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("[1, 2, 3]", "state.json is JSON but not an object"),
        ("[" * 100_000 + "]" * 100_000, "state.json is JSON nested too deeply to read"),
        (
            '{"name": "sw", "trials": "abc", "spec": ' + GOOD_SPEC + "}",
            "trials that are not a list",
        ),
        ('{"name": "sw", "trials": [], "spec": 5}', "spec is not a JSON object"),
        ('{"name": "sw", "trials": []}', "spec is missing"),
        ('{"name": "sw", "trials": [], "spec": {"metrics": []}}', "spec has no metrics list"),
        (
            '{"name": "sw", "trials": [], "spec": {"metrics": [{"key": "acc"}]}}',
            "has a metric that is not {key, mode: max|min}",
        ),
    ],
)
@pytest.mark.parametrize("command", ["status", "best"])
def test_a_sweep_state_of_the_wrong_shape_is_one_error_line(repo, content, words, command):
    """issue 19 review: a state ref holding a JSON list, nested JSON or a spec without metrics
    died with TypeError/RecursionError/AttributeError/IndexError in `sweep status/best`."""
    path, _ = repo
    ref = put_state(path, "sw", content)
    one_error_line(expbook(path, "sweep", command, "sw"), ref, words)


# ---------------------------------------------------------------- control characters
ESC_NAME = "esc\x1b]0;pwn\x07x"
BIDI_NAME = "bidi\u202etxt"


def test_gc_listing_shows_names_and_refs_escaped(repo):
    """issue 19 review: `gc`'s dry-run listing printed experiment names and refs raw: an
    OSC title sequence and a U+202E override reached the terminal."""
    path, shas = repo
    for name in (ESC_NAME, BIDI_NAME):
        ref = path / ".git" / exp_ref(shas["baseline"], name)
        ref.write_text(shas["good"] + "\n")  # git update-ref refuses control characters
    proc = expbook(path, "gc", "--keep-last", "1")
    assert proc.returncode == 0, proc.stderr
    assert not RAW_CONTROL.search(proc.stdout), proc.stdout
    assert "esc\\x1b]0;pwn\\x07x" in proc.stdout and "bidi\\u202etxt" in proc.stdout


@pytest.mark.parametrize(("tag", "shown"), [("a\x1b[2Jb", "U+001B"), ("x\u202ey", "U+202E")])
def test_a_tag_with_a_control_character_is_refused_and_an_old_one_removable(repo, tag, shown):
    """issue 19 review: `expbook tag EXP $'a\\e[2Jb'` was stored and reached every listing of
    the tag; it is refused now, and a tag stored before (by an older expbook) can be removed."""
    path, shas = repo
    proc = expbook(path, "tag", "good", tag)
    one_error_line(proc, shown, "a tag is printable text")
    assert not RAW_CONTROL.search(proc.stderr)
    assert sh("git", "for-each-ref", "refs/notes", cwd=path).stdout == ""  # nothing written
    doc = json.dumps({"notes": [], "tags": [tag]})
    raw_note(path, shas["good"], doc)
    removed = expbook(path, "tag", "good", tag, "--remove")
    assert removed.returncode == 0, removed.stderr
    assert tag not in sh("git", "notes", "--ref=expbook", "show", shas["good"], cwd=path).stdout


# ---------------------------------------------------------------- files: bounded, inside the repo
def rows_by_name(proc: subprocess.CompletedProcess[str]) -> dict[str, dict]:
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    return {r["name"]: r for r in json.loads(proc.stdout)}


def test_a_2gb_sparse_metrics_file_is_an_error_row_not_read(repo):
    """issue 19 review: a 2 GB sparse metrics.json in the work tree made `registry` read all of
    it (60 s, 2 GB of memory, killed); it is an error of the workspace row, never read."""
    path, _ = repo
    with open(path / "metrics.json", "wb") as fh:
        fh.truncate(2 * 2**30)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import resource,sys; resource.setrlimit(resource.RLIMIT_AS, "
            "(1 << 30, 1 << 30)); from expbook.cli import main; sys.argv=['expbook', 'registry', "
            "'-f', 'json']; main()",
        ],
        cwd=path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    rows = rows_by_name(proc)
    assert "over the 64 MiB" in rows["workspace"]["errors"]["metrics.json"]
    assert rows["good"]["metrics"]  # the other rows are read as before


@pytest.mark.parametrize("target", ["/etc/passwd", "OUTSIDE"])
def test_a_work_tree_link_out_of_the_repository_is_never_read(repo, target):
    """issue 19 review: a committed symlink `metrics.json -> ~/.aws/credentials` (any file
    outside the repository) was read into the workspace row (and so the dashboard)."""
    path, _ = repo
    outside = path.parent / "secret.json"
    outside.write_text('{"acc": 0.123456}\n')
    (path / "metrics.json").unlink()
    (path / "metrics.json").symlink_to(outside if target == "OUTSIDE" else target)
    proc = expbook(path, "registry", "-f", "json")
    rows = rows_by_name(proc)
    assert "outside the repository" in rows["workspace"]["errors"]["metrics.json"]
    assert "0.123456" not in proc.stdout and "root:" not in proc.stdout


@pytest.mark.parametrize("kind", ["fifo", "link"])
def test_a_workspace_curve_that_is_a_fifo_or_a_link_out_is_skipped(repo, kind):
    """issue 19 review: a FIFO at dvclive/plots/metrics/loss.tsv hung `show workspace` forever
    (curves were read with read_bytes); a link to a TSV outside the repository was read."""
    path, _ = repo
    curves = path / "dvclive" / "plots" / "metrics"
    curves.mkdir(parents=True)
    if kind == "fifo":
        os.mkfifo(curves / "loss.tsv")
    else:
        (path.parent / "out.tsv").write_text("step\tloss\n0\t0.987654\n")
        (curves / "loss.tsv").symlink_to(path.parent / "out.tsv")
    proc = expbook(path, "show", "workspace")  # timeout=120: a hang fails
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "dvclive/plots/metrics/loss.tsv: cannot be read" in proc.stderr
    assert "0.987654" not in proc.stdout


TRAVERSING_LOCK = """\
schema: '2.0'
stages:
  train:
    cmd: python train.py
    outs:
    - path: metrics.json
      hash: md5
      md5: ../../../../../../../../../../../../etc/passwd
      size: 10
"""
CACHED_METRICS_YAML = """\
stages:
  train:
    cmd: python train.py
    params: [lr]
    metrics:
      - metrics.json:
          cache: true
"""


def test_a_lock_hash_that_is_a_path_never_reads_outside_the_cache(repo):
    """issue 19 review: a dvc.lock whose md5 is `../../../etc/passwd` made `registry` read
    /etc/passwd as the metrics file (a 'JSON file structure is corrupted' row) and `verify`
    hash it; the hash is refused as no md5 and verify reports the lock, never 'all match'."""
    path, _ = repo
    (path / "dvc.yaml").write_text(CACHED_METRICS_YAML)
    (path / "dvc.lock").write_text(TRAVERSING_LOCK)
    (path / "metrics.json").unlink()
    rows = rows_by_name(expbook(path, "registry", "-f", "json"))
    errors = rows["workspace"]["errors"]
    assert "not an md5" in errors["dvc.lock"], errors
    assert "corrupted" not in json.dumps(errors)  # /etc/passwd was never parsed
    proc = expbook(path, "verify")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "dvc.lock: unreadable" in proc.stdout and "hashes to" not in proc.stdout


GC_OUTSIDE_YAML = """\
stages:
  train:
    cmd: python train.py
    outs:
      - ../../../../../../etc
"""
GC_OUTSIDE_LOCK = """\
schema: '2.0'
stages:
  train:
    cmd: python train.py
    outs:
    - path: ../../../../../../etc
      hash: md5
      md5: 0123456789abcdef0123456789abcdef.dir
      size: 10
"""


def test_gc_cache_with_an_output_outside_the_repository_is_one_error_and_changes_nothing(repo):
    """issue 19 review: a committed dvc.yaml/dvc.lock with an out `../../etc` made
    `gc --cache` die with DVC's bare AssertionError (is_in_repo), with --yes only after the
    experiment refs were already removed; now one error line before any change."""
    path, shas = repo
    (path / "dvc.yaml").write_text(GC_OUTSIDE_YAML)
    (path / "dvc.lock").write_text(GC_OUTSIDE_LOCK)
    sh("git", "add", "-A", cwd=path)
    sh("git", "commit", "-q", "-m", "an out outside", cwd=path)
    before = sh("git", "for-each-ref", "refs/exps", cwd=path).stdout
    for extra in ([], ["--yes"]):
        proc = expbook(path, "gc", "--where", "name = 'good'", "--cache", *extra)
        one_error_line(proc, "DVC cannot list the objects", "nothing was removed")
    assert sh("git", "for-each-ref", "refs/exps", cwd=path).stdout == before


# ---------------------------------------------------------------- sweeps: names already taken
TRAIN_PY = """\
import json

lr = float(open("params.yaml").read().split(":")[1])
json.dump({"acc": lr}, open("metrics.json", "w"))
"""


def test_a_new_sweep_never_replaces_an_experiment_of_its_trial_names(repo):
    """issue 19 review: `expbook sweep` of a new name `t` silently replaced an existing
    experiment `t-001` (made by `dvc exp run -n t-001` or by hand) with its trial 001. Now
    refused before anything runs; --force-new numbers the trials after it."""
    path, shas = repo
    (path / "train.py").write_text(TRAIN_PY)
    sh("git", "add", "train.py", cwd=path)
    sh("git", "commit", "-q", "-m", "train", cwd=path)
    base = git_out(path, "rev-parse", "main")
    taken = exp_ref(base, "t-001")
    sh("git", "update-ref", taken, shas["good"], cwd=path)
    (path / "s.yaml").write_text(
        "name: t\nmethod: grid\nmetric: {key: acc, mode: max}\nparams:\n  lr: [0.3, 0.4]\n"
    )
    proc = expbook(path, "sweep", "run", "s.yaml")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert f"experiment {taken} exists" in proc.stderr and "--force-new" in proc.stderr
    assert git_out(path, "rev-parse", taken) == shas["good"]
    assert git_out(path, "for-each-ref", "refs/expbook") == ""  # no state written
    forced = expbook(path, "sweep", "run", "s.yaml", "--force-new")
    assert forced.returncode == 0, forced.stderr
    assert "starts at trial 002" in forced.stderr
    assert git_out(path, "rev-parse", taken) == shas["good"]  # kept
    names = git_out(path, "for-each-ref", "--format=%(refname:lstrip=-1)", "refs/exps")
    assert {"t-002", "t-003"} <= set(names.split())


# ---------------------------------------------------------------- non-UTF-8 names in a commit
def test_a_curve_file_name_that_is_not_utf8_is_exported_with_a_replacement(repo, tmp_path):
    """issue 19 review: a committed `dvclive/plots/metrics/bad\\xff.tsv` made `export` die with
    UnicodeEncodeError (surrogates not allowed) writing the curve's name; it is written with
    U+FFFD in place of the bad byte."""
    path, shas = repo
    sh("git", "checkout", "-q", "--detach", cwd=path)
    curves = os.path.join(os.fsencode(path), b"dvclive", b"plots", b"metrics")
    os.makedirs(curves)
    with open(os.path.join(curves, b"bad\xffname.tsv"), "wb") as fh:
        fh.write(b"step\tacc\n0\t0.5\n")
    sh("git", "add", "-A", cwd=path)
    sh("git", "commit", "-q", "-m", "a curve named in latin-1", cwd=path)
    commit = git_out(path, "rev-parse", "HEAD")
    sh("git", "checkout", "-q", "-f", "main", cwd=path)
    sh("git", "update-ref", exp_ref(shas["baseline"], "latin"), commit, cwd=path)
    proc = expbook(path, "export", "latin", "-o", str(tmp_path / "out"))
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "latin,bad\ufffdname,0,0.5" in (tmp_path / "out" / "latin.csv").read_text()


@pytest.mark.parametrize("name", ["metrics.json", "params.json"])
def test_a_json_file_nested_under_the_parser_limit_but_deep_is_an_error_row(repo, name):
    """issue 19 review: a metrics JSON 990 levels deep parsed (json's C parser allows it),
    then `registry` died with RecursionError in extract_metrics/flatten. JSON and TOML files
    nest at most 100 levels, like YAML files."""
    path, _ = repo
    deep = '{"a":' * 990 + "1" + "}" * 990
    if name == "params.json":
        (path / "dvc.yaml").write_text(
            (path / "dvc.yaml").read_text().replace("params: [lr]", "params: [{params.json: [a]}]")
        )
    (path / name).write_text(deep)
    rows = rows_by_name(expbook(path, "registry", "-f", "json"))
    assert "nests deeper than 100 levels" in rows["workspace"]["errors"][name]


def test_a_note_nested_950_deep_takes_a_new_note_and_keeps_its_text(repo):
    """issue 19 review: a note `{"x": [[[...950]]]}` (under json's limit) made `expbook note`
    and `tag` die with RecursionError walking it for bad Unicode; with a `\\ud800` in it
    `registry` died too. The old text is kept (as a note) and the new note added."""
    path, shas = repo
    raw_note(path, shas["good"], '{"x": ' + "[" * 950 + "]" * 950 + "}")
    proc = expbook(path, "note", "good", "hello")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    stored = json.loads(sh("git", "notes", "--ref=expbook", "show", shas["good"], cwd=path).stdout)
    assert stored["notes"][-1] == "hello" and stored["notes"][0].startswith('{"x": [[[')
    raw_note(path, shas["good"], '{"x": "\\ud800", "y": ' + "[" * 950 + "]" * 950 + "}", force=True)
    rows = rows_by_name(expbook(path, "registry", "-f", "json"))
    assert "nested too deeply" in json.dumps(rows["good"]["errors"])


def test_sweep_status_and_best_show_a_pulled_state_escaped_and_without_markup(repo):
    """issue 19 review: `sweep status/best` printed a (pulled) state's trial names, param keys
    and values, metric keys and errors raw: ESC sequences reached the terminal, and rich read
    `[link=...]` in a param value as markup (a clickable terminal hyperlink)."""
    path, _ = repo
    state = {
        "name": "sw",
        "spec": {"metrics": [{"key": "acc\x1b[2J", "mode": "max"}]},
        "trials": [
            {
                "name": "sw-001\u202e\x1b]0;x\x07",
                "number": 1,
                "status": "success",
                "config": {"lr\x1b[31m": "[link=https://evil.example]click[/link]"},
                "values": [0.5],
            },
            {"name": "sw-002", "number": 2, "status": "failed", "error": "boom\x1b[2J"},
        ],
    }
    put_state(path, "sw", json.dumps(state))
    for command in ("status", "best"):
        proc = expbook(path, "sweep", command, "sw")
        assert proc.returncode == 0, proc.stderr
        assert not RAW_CONTROL.search(proc.stdout + proc.stderr), proc.stdout
        assert "[link=https://evil.example]click[/link]" in proc.stdout
        assert "sw-001\\u202e\\x1b]0;x\\x07" in proc.stdout


def test_a_dvc_cache_object_that_links_out_of_the_cache_is_never_read(repo):
    """issue 19 review: a `cache: true` metrics file's cache object that is a symlink to a
    file outside the DVC cache (a secret) was read into the registry as the metrics."""
    path, _ = repo
    (path / "dvc.yaml").write_text(CACHED_METRICS_YAML)
    md5 = hashlib.md5((path / "metrics.json").read_bytes()).hexdigest()
    (path / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  train:\n    cmd: python train.py\n    outs:\n"
        f"    - path: metrics.json\n      hash: md5\n      md5: {md5}\n      size: 13\n"
    )
    secret = path.parent / "secret.json"
    secret.write_text('{"secret_key": 0.424242}\n')
    obj = path / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    obj.parent.mkdir(parents=True)
    obj.symlink_to(secret)
    (path / "metrics.json").unlink()
    proc = expbook(path, "registry", "-f", "json")
    rows = rows_by_name(proc)
    assert "outside the DVC cache" in rows["workspace"]["errors"]["metrics.json"]
    assert "0.424242" not in proc.stdout and "secret_key" not in proc.stdout


def test_a_params_file_that_is_a_symlink_loop_is_named_as_one(repo):
    """issue 19 review: `params.yaml -> params.yaml` (a loop) was reported as 'params.yaml:
    no such file'; it is named as the loop it is, in an error of the workspace row."""
    path, _ = repo
    (path / "params.yaml").unlink()
    (path / "params.yaml").symlink_to("params.yaml")
    rows = rows_by_name(expbook(path, "registry", "-f", "json"))
    assert "Too many levels of symbolic links" in rows["workspace"]["errors"]["params.yaml"]


@pytest.mark.parametrize(
    "args", [["registry", "-f", "csv"], ["show", "good"], ["gc", "--keep-last", "1"]]
)
def test_stdout_on_a_full_disk_is_one_error_line(repo, args):
    """issue 19 review: `expbook registry > /dev/full` (stdout on a full disk) died with an
    OSError traceback (ENOSPC); it is one `Error:` line on stderr, exit 2."""
    path, _ = repo
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "expbook", *args],
            cwd=path,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip() == "Error: cannot write the output: No space left on device"


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "sparse"])
def test_a_sweep_spec_that_is_a_fifo_a_device_or_huge_is_one_error_line(repo, kind):
    """issue 19 review: `expbook sweep run SPEC` read the spec with read_bytes(): a FIFO hung
    forever, a link to /dev/zero grew to 24 GB before it was killed, a 2 GB file was read
    whole. Only a regular file of at most 64 MiB is read."""
    path, _ = repo
    spec = path / "spec.yaml"
    if kind == "fifo":
        os.mkfifo(spec)
    elif kind == "dev-zero":
        spec.symlink_to("/dev/zero")
    else:
        with open(spec, "wb") as fh:
            fh.truncate(2 * 2**30)
    proc = expbook(path, "sweep", "run", "spec.yaml")  # timeout=120: a hang fails
    words = {"fifo": "a FIFO", "dev-zero": "a character device", "sparse": "over the 64 MiB limit"}
    one_error_line(proc, "spec.yaml: cannot read sweep spec", words[kind])


def test_init_beside_a_fifo_pyproject_is_one_error_line_and_writes_nothing(repo):
    """issue 19 review: `expbook init` read pyproject.toml with read_bytes(): a FIFO there hung
    it forever. It is one error line, and nothing is written."""
    path, _ = repo
    os.mkfifo(path / "pyproject.toml")
    before = sorted(p.name for p in path.iterdir())
    proc = expbook(path, "init")  # timeout=120: a hang fails
    one_error_line(proc, "pyproject.toml: cannot read (not a regular file (a FIFO))")
    assert sorted(p.name for p in path.iterdir()) == before
