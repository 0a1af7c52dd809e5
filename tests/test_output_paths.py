"""Output safety of every -o/--output/--report path (issue 14): output.write_output refuses
.git/.dvc, non-regular targets and git-tracked files (unless --force), writes through symlinks,
honours the umask and never leaves a temp file.

Run: python -m pytest -q tests/test_output_paths.py
"""

from __future__ import annotations

import os
import socket
import stat

import pytest
from click.testing import CliRunner

from conftest import commit_all, sh
from expbook.cli import cli
from expbook.errors import ExpbookError
from expbook.output import check_output_path, write_atomic, write_output


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_registry_refuses_git_head(dvc_repo):
    """Issue 14: `expbook registry -o .git/HEAD -f csv` overwrote HEAD and broke the repo."""
    head = (dvc_repo / ".git" / "HEAD").read_text()
    result = CliRunner().invoke(
        cli, ["registry", "--repo", str(dvc_repo), "-o", ".git/HEAD", "-f", "csv"]
    )
    assert result.exit_code == 2, result.output
    assert "Error: refusing to write '.git/HEAD'" in result.output
    assert (dvc_repo / ".git" / "HEAD").read_text() == head
    sh("git", "status", cwd=dvc_repo)  # still a git repository


@pytest.mark.parametrize("rel", [".git/config", ".git/refs/heads/x", ".dvc/config", ".dvc/cache/x"])
def test_refuses_inside_git_and_dvc(git_repo, rel):
    dvc_repo = git_repo
    (git_repo / ".dvc").mkdir()
    (git_repo / ".dvc" / "config").write_text("[core]\n")
    before = (dvc_repo / rel).read_bytes() if (dvc_repo / rel).exists() else None
    with pytest.raises(ExpbookError, match=f"refusing to write '{rel}'"):
        write_output(rel, "x")
    after = (dvc_repo / rel).read_bytes() if (dvc_repo / rel).exists() else None
    assert after == before


def test_tracked_check_with_an_undecodable_file_name(git_repo):
    """Issue 13: the tracked-file check runs git through the git layer (gitcmd.run_git); a file
    name that is not UTF-8, which git echoes back raw, neither crashes it nor hides a tracked file."""
    tracked = os.fsdecode(b"r\xe9sultat.csv")
    (git_repo / tracked).write_text("keep\n")
    commit_all(git_repo, "a latin-1 file name")
    with pytest.raises(ExpbookError, match="git tracks it"):
        write_output(tracked, "x\n")
    assert (git_repo / tracked).read_text() == "keep\n"
    untracked = os.fsdecode(b"autre-\xe9.csv")  # exists, not tracked: replaced
    (git_repo / untracked).write_text("old\n")
    write_output(untracked, "new\n")
    assert (git_repo / untracked).read_text() == "new\n"


def test_expbook_cache_dir_is_allowed(git_repo):
    write_output(".dvc/tmp/expbook/report.csv", "a\n")
    assert (git_repo / ".dvc/tmp/expbook/report.csv").read_text() == "a\n"


def test_refuses_tracked_file_unless_force(dvc_repo):
    """Issue 14: `-o params.yaml -f csv` silently overwrote a tracked file."""
    (dvc_repo / "params.yaml").write_text("lr: 0.1\n")
    commit_all(dvc_repo, "params")
    result = CliRunner().invoke(
        cli, ["registry", "--repo", str(dvc_repo), "-o", "params.yaml", "-f", "csv"]
    )
    assert result.exit_code == 2
    assert "refusing to overwrite 'params.yaml': git tracks it; pass --force" in result.output
    assert (dvc_repo / "params.yaml").read_text() == "lr: 0.1\n"
    forced = CliRunner().invoke(
        cli, ["registry", "--repo", str(dvc_repo), "-o", "params.yaml", "-f", "csv", "--force"]
    )
    assert forced.exit_code == 0, forced.output
    assert (dvc_repo / "params.yaml").read_text().startswith("name,")
    # an untracked file is simply replaced
    write_output("mine.csv", "1\n")
    write_output("mine.csv", "2\n")
    assert (dvc_repo / "mine.csv").read_text() == "2\n"


def test_refuses_fifo_socket_and_directory(tmp_dir):
    """Issue 14: -o on a FIFO (or a device node as root) replaced it with a regular file."""
    os.mkfifo("pipe")
    with pytest.raises(ExpbookError, match="'pipe': it is a FIFO"):
        write_output("pipe", "x")
    assert stat.S_ISFIFO(os.lstat("pipe").st_mode)
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind("sock")
        with pytest.raises(ExpbookError, match="'sock': it is a socket"):
            write_output("sock", "x")
    finally:
        sock.close()
    os.mkdir("folder")
    with pytest.raises(ExpbookError, match="'folder': it is a directory"):
        write_output("folder", "x")
    with pytest.raises(ExpbookError, match="'/dev/null': it is a device"):
        write_output("/dev/null", "x")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert leftovers(tmp_dir) == []


def test_dash_is_stdout(tmp_dir, capsys):
    assert write_output("-", "hello\n") == "-"
    assert capsys.readouterr().out == "hello\n"
    assert not (tmp_dir / "-").exists()


def test_symlink_is_written_through(tmp_dir):
    """A symlink stays a symlink; its target gets the new content (README: Failure behaviour)."""
    (tmp_dir / "real").mkdir()
    (tmp_dir / "real" / "out.csv").write_text("old\n")
    os.symlink("real/out.csv", "link.csv")
    write_output("link.csv", "new\n")
    assert os.path.islink("link.csv")
    assert (tmp_dir / "real" / "out.csv").read_text() == "new\n"
    os.symlink("real/dangling.csv", "dangling.csv")  # a dangling link: its target is created
    write_output("dangling.csv", "d\n")
    assert (tmp_dir / "real" / "dangling.csv").read_text() == "d\n"
    assert leftovers(tmp_dir) == [] and leftovers(tmp_dir / "real") == []


def test_symlink_into_git_is_refused(git_repo):
    os.symlink(".git/HEAD", "innocent.csv")
    with pytest.raises(ExpbookError, match="refusing to write 'innocent.csv': it is inside .git/"):
        write_output("innocent.csv", "x")


def test_symlink_to_tracked_file_is_refused(git_repo):
    (git_repo / "tracked.txt").write_text("keep\n")
    commit_all(git_repo, "tracked")
    os.symlink("tracked.txt", "out.csv")
    with pytest.raises(ExpbookError, match="refusing to overwrite 'out.csv'"):
        check_output_path("out.csv")
    assert (git_repo / "tracked.txt").read_text() == "keep\n"


def test_mode_follows_umask(tmp_dir):
    """Issue 14: every file written got mode 0600 instead of the umask's 0644."""
    old = os.umask(0o022)
    try:
        write_output("a.csv", "x")
        assert stat.S_IMODE(os.stat("a.csv").st_mode) == 0o644
        os.umask(0o027)
        write_output("b.csv", "x")
        assert stat.S_IMODE(os.stat("b.csv").st_mode) == 0o640
        os.chmod("a.csv", 0o600)  # an existing file keeps its mode
        write_output("a.csv", "y")
        assert stat.S_IMODE(os.stat("a.csv").st_mode) == 0o600
    finally:
        os.umask(old)


def test_failure_leaves_no_temp_file(tmp_dir):
    (tmp_dir / "out.csv").write_text("old\n")
    with pytest.raises(TypeError):
        write_atomic(tmp_dir / "out.csv", 123)  # type: ignore[arg-type]
    assert (tmp_dir / "out.csv").read_text() == "old\n"
    assert leftovers(tmp_dir) == []


def test_export_checks_every_path_before_writing(git_repo):
    from expbook.analysis.exporting import export_curves

    (git_repo / "out").mkdir()
    (git_repo / "out" / "b.csv").write_text("tracked\n")
    commit_all(git_repo, "tracked export")
    with pytest.raises(ExpbookError, match="b.csv"):
        export_curves([("a", {}), ("b", {})], "out")
    assert not (git_repo / "out" / "a.csv").exists()  # nothing half-done
    export_curves([("a", {}), ("b", {})], "out", force=True)
    assert (git_repo / "out" / "a.csv").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["plot", "val/acc", "x", "-o", ".git/HEAD.png"],
        ["export", "x", "-o", ".git"],
        ["stats", "-m", "acc", "-o", ".git/stats.csv"],
        ["check", "--report", ".git/report.md"],
    ],
)
def test_every_output_option_is_guarded(git_repo, args):
    """plot -o, export -o, stats -o and check --report go through the same check, up front."""
    result = CliRunner().invoke(cli, [*args[:1], "--repo", str(git_repo), *args[1:]])
    assert result.exit_code == 2, result.output
    assert "refusing to write" in result.output and ".git" in result.output
    assert "Traceback" not in result.output
