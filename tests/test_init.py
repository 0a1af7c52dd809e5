"""`expbook init` (issue 20): scaffold metric directions, a sweep spec and a CI workflow in an
existing DVC repository without touching its pipeline; never clobber, --dry-run writes nothing.
"""

from __future__ import annotations

import json
import shlex
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import commit_all
from expbook.cli import cli
from expbook.registry.directions import load_declared
from expbook.sweep.spec import load_spec

PIPELINE = {
    "dvc.yaml": "stages:\n  train:\n    cmd: python train.py\n    params: [train]\n"
    "    metrics:\n      - metrics.json:\n          cache: false\n",
    "params.yaml": "train:\n  lr: 0.01\n  epochs: 5\n  name: mlp\n",
    "metrics.json": json.dumps({"val": {"loss": 0.5, "acc": 0.8}, "score": 3}),
    "train.py": "print('the user pipeline')\n",
}
SCAFFOLD = ("pyproject.toml", "sweeps/example.yaml", ".github/workflows/expbook-check.yml")


@pytest.fixture
def project(dvc_repo: Path) -> Path:
    for rel, text in PIPELINE.items():
        (dvc_repo / rel).write_text(text)
    commit_all(dvc_repo, "the user's pipeline")
    return dvc_repo


def run(repo: Path, *args: str):
    return CliRunner().invoke(cli, ["init", "--repo", str(repo), *args])


def snapshot(repo: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(repo)): p.read_bytes()
        for p in sorted(repo.rglob("*"))
        if p.is_file() and ".git" not in p.parts and ".dvc" not in p.parts
    }


def test_init_writes_three_files_from_the_repos_keys_and_leaves_the_pipeline(project):
    before = snapshot(project)
    result = run(project)
    assert result.exit_code == 0, result.output
    after = snapshot(project)
    assert {k: v for k, v in after.items() if k not in SCAFFOLD} == before
    assert set(after) - set(before) == set(SCAFFOLD)
    # directions: named metrics declared, the one whose name says nothing left as a comment
    assert load_declared(project) == {"val.acc": "max", "val.loss": "min"}
    assert '# "score" = "max"' in (project / "pyproject.toml").read_text()
    # the sweep template is a valid spec over the project's numeric params
    spec = load_spec(project / "sweeps" / "example.yaml")
    assert spec.name == "example"
    text = (project / "sweeps" / "example.yaml").read_text()
    assert "metric: {key: val.acc, mode: max}" in text
    assert "train.lr: {low: 0.001, high: 0.1, log: true}" in text
    assert "train.epochs: [5, 10]" in text and "train.name" not in text
    # the workflow's gate is a command line expbook parses
    flow = (project / ".github" / "workflows" / "expbook-check.yml").read_text()
    line = next(x.strip() for x in flow.splitlines() if x.strip().startswith("expbook check"))
    assert '--fail-if "val.acc < ref - 0.01"' in line
    words = shlex.split(line.replace('"${args[@]}"', ""))
    ctx = cli.make_context("expbook", words[1:2], resilient_parsing=True)
    sub = cli.get_command(ctx, "check")
    sub.make_context("check", words[2:])  # raises on an unknown option


def test_dry_run_lists_and_writes_nothing(project):
    before = snapshot(project)
    result = run(project, "--dry-run")
    assert result.exit_code == 0, result.output
    assert snapshot(project) == before
    for rel in SCAFFOLD:
        assert f"would create       {rel}" in result.output


def test_existing_files_are_refused_whole_unless_force(project):
    """Nothing is written when one file exists; --force overwrites the sweep and workflow."""
    (project / "sweeps").mkdir()
    (project / "sweeps" / "example.yaml").write_text("mine\n")
    before = snapshot(project)
    result = run(project)
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "sweeps/example.yaml exists: nothing written" in result.output
    assert snapshot(project) == before
    result = run(project, "--force")
    assert result.exit_code == 0, result.output
    assert "name: example" in (project / "sweeps" / "example.yaml").read_text()


def test_an_existing_pyproject_gets_the_table_appended(project):
    old = '[project]\nname = "theirs"\n\n[tool.ruff]\nline-length = 99\n'
    (project / "pyproject.toml").write_text(old)
    assert run(project).exit_code == 0
    new = (project / "pyproject.toml").read_text()
    assert new.startswith(old)
    data = tomllib.loads(new)
    assert data["project"]["name"] == "theirs" and data["tool"]["ruff"]["line-length"] == 99
    assert load_declared(project) == {"val.acc": "max", "val.loss": "min"}


def test_an_existing_directions_table_is_kept_byte_for_byte(project):
    old = '[tool.expbook.directions]\n"score" = "max"\n'
    (project / "pyproject.toml").write_text(old)
    result = run(project)
    assert result.exit_code == 0, result.output
    assert "kept" in result.output and (project / "pyproject.toml").read_text() == old
    # rerun over everything it made: every file kept as it is, nothing changed, exit 0
    before = snapshot(project)
    again = run(project)
    assert again.exit_code == 0, again.output
    assert again.output.count("kept") == 3 and "(unchanged)" in again.output
    assert snapshot(project) == before


@pytest.mark.parametrize(
    "text, message",
    [
        ("[project\nname = 1\n", "pyproject.toml: not valid TOML"),
        ('[tool]\nexpbook = "x"\n', "cannot append [tool.expbook.directions]"),
        # issue 20: a tool.expbook that is no table was a TypeError traceback (an int) or,
        # for the string "directions", taken for an existing table
        ("[tool]\nexpbook = 3\n", "cannot append [tool.expbook.directions]"),
        ('[tool]\nexpbook = "directions"\n', "cannot append [tool.expbook.directions]"),
        ("tool = 1\n", "cannot append [tool.expbook.directions]"),
    ],
)
def test_a_pyproject_it_cannot_join_is_refused_unchanged(project, text, message):
    (project / "pyproject.toml").write_text(text)
    before = snapshot(project)
    result = run(project)
    assert result.exit_code != 0 and message in result.output
    assert "Traceback" not in result.output
    assert snapshot(project) == before


def test_not_a_dvc_repository(git_repo):
    result = run(git_repo)
    assert result.exit_code != 0 and "not in a DVC repository" in result.output
    assert list(p.name for p in git_repo.iterdir()) == [".git"]


def test_a_plain_git_repo_read_by_expbook_is_still_no_dvc_repository(git_repo):
    """issue 20: `expbook registry` in a plain git repository leaves its cache in .dvc/tmp/;
    `expbook init` took that .dvc/ for a DVC repository and scaffolded it. A DVC repository
    has .dvc/config (what `dvc init` writes)."""
    assert CliRunner().invoke(cli, ["registry", "--repo", str(git_repo)]).exit_code == 0
    assert (git_repo / ".dvc").is_dir()  # the registry's cache (not init's business)
    result = run(git_repo)
    assert result.exit_code == 2 and "not in a DVC repository (no .dvc/config)" in result.output
    assert not (git_repo / "pyproject.toml").exists() and not (git_repo / "sweeps").exists()


def test_init_from_a_subfolder_scaffolds_the_repository_root(project):
    """issue 20: `expbook init` in src/ of a DVC repository said "not a DVC repository" while
    every other command finds the root from a subfolder; it now writes at the root."""
    sub = project / "src" / "deep"
    sub.mkdir(parents=True)
    result = run(sub)
    assert result.exit_code == 0, result.output
    assert f"in {project.resolve()}:" in result.output
    for rel in SCAFFOLD:
        assert (project / rel).is_file() and not (sub / rel).exists()


def test_the_sweep_template_ranges_tuned_params_never_seeds_or_fractions():
    from expbook.lifecycle.scaffold import sweep_template

    params = {
        "base.seed": 42,
        "prepare.train_fraction": 0.7,
        "train.dropout": 0.2,
        "train.lr": 1e-4,
        "train.name": "mlp",
    }
    text = sweep_template("val.loss", "min", params)
    assert "metric: {key: val.loss, mode: min}" in text
    assert "train.lr: {low: 1.0e-05, high: 0.001, log: true}" in text
    assert "train.dropout: {low: 0.02, high: 0.9, log: true}" in text  # a probability stays < 1
    assert "seed" not in text.split("params:")[1] and "fraction" not in text


def test_a_second_init_keeps_what_the_first_wrote(project):
    """issue 20: `expbook init` twice in a row refused its own files (exit 2, "exist"); files
    it would write as they are now are kept, and only a changed one needs --force."""
    assert run(project).exit_code == 0
    before = snapshot(project)
    again = run(project)
    assert again.exit_code == 0, again.output
    for rel in SCAFFOLD[1:]:
        assert f"kept         {rel}  (unchanged)" in again.output
    assert snapshot(project) == before
    (project / "sweeps" / "example.yaml").write_text("mine\n")
    refused = run(project)
    assert refused.exit_code != 0 and "sweeps/example.yaml exists" in refused.output


@pytest.mark.parametrize(
    "make, message",
    [
        # a folder where a file goes, a file where a folder goes: were tracebacks, and the
        # files before the failing one were already written
        (lambda p: (p / "sweeps" / "example.yaml").mkdir(parents=True), "is a directory"),
        (lambda p: (p / ".github").write_text("x"), ".github is not a directory"),
        # the temporary file cannot be written (as in a read-only folder): nothing is left
        (
            lambda p: (p / ".github/workflows/.expbook-check.yml.expbook-tmp").mkdir(parents=True),
            "cannot write .github/workflows/.expbook-check.yml.expbook-tmp",
        ),
    ],
)
def test_a_file_that_cannot_be_written_leaves_nothing_half_written(project, make, message):
    """issue 20: one-line error, exit 2, no pyproject.toml, sweep spec or tmp file left."""
    make(project)
    before = snapshot(project)
    folders = sorted(p for p in project.rglob("*") if p.is_dir() and ".git" not in p.parts)
    folders = [p for p in folders if ".dvc" not in p.parts]  # the registry's own cache
    result = run(project, "--force")
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert result.output.count("\n") == 1 and result.output.startswith("Error: ")
    assert snapshot(project) == before
    after = sorted(p for p in project.rglob("*") if p.is_dir() and ".git" not in p.parts)
    assert [p for p in after if ".dvc" not in p.parts] == folders


def test_a_pyproject_with_windows_line_ends_keeps_them(project):
    """issue 20: the table was appended with bare \\n line ends to a CRLF pyproject.toml,
    leaving a file of mixed line ends."""
    old = b'[project]\r\nname = "theirs"\r\n'
    (project / "pyproject.toml").write_bytes(old)
    assert run(project).exit_code == 0
    new = (project / "pyproject.toml").read_bytes()
    assert new.startswith(old) and b"\n" not in new.replace(b"\r\n", b"")
    assert load_declared(project) == {"val.acc": "max", "val.loss": "min"}
