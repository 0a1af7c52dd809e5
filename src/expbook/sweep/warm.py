"""Warm stages (`expbook sweep --warm-stages`, opt-in): a sweep worker runs the trial's stage
commands that are exactly `[NAME=VALUE ...] python -m MODULE ARGS` or `python FILE.py ARGS`
in a child forked from a warm server (expbook/sweep/warmserver.py) that imported torch and
numpy once, instead of a fresh interpreter that imports them again (~1.7 s of CPU per stage).

The child gets what the shell would give the command: cwd, DVC's environment as the shell
DVC starts passes it on (bash or dash: `_`, PWD, SHLVL, OLDPWD, IFS, names dash drops; see
_shell_env), plus the command's NAME=VALUE prefixes, sys.argv, sys.path (script
directory or cwd first, then PYTHONPATH), `__main__`, stdio fds, exit code; it is in the
worker's process group, which the sweep kills. Every other command, or one the server cannot
run exactly (another interpreter, flags, shell syntax, a start-up variable that differs),
runs DVC's own way. Hook: `install()` wraps dvc.stage.run._run in the worker process only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from expbook import env as envnames

DEFAULT_MODULES = ("numpy", "torch")
# words the shell passes through unchanged: no quotes, $, globs, ~, braces, redirections, ;&|
_WORD = re.compile(r"^[A-Za-z0-9_./:,=+@%-]+$")
_ASSIGN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# what each shell sets or resets at start-up beyond what _shell_env copies: from the
# environment, such a variable sends the stage DVC's way (compared with bash 5.2, dash 0.5.12)
_SHELL_SET = {
    "bash": (
        "POSIXLY_CORRECT", "SHELLOPTS", "BASHOPTS", "PS4", "PPID", "BASHPID", "RANDOM",
        "SRANDOM", "LINENO", "OPTIND", "BASH", "SECONDS", "HISTCMD", "BASH_ARGV0",
        "EPOCHSECONDS", "EPOCHREALTIME", "GROUPS", "FUNCNAME", "UID", "EUID",
    ),
    "dash": ("PPID", "OPTIND"),
}  # fmt: skip
# NAME=VALUE words of a command the server does not copy (read-only or shell-set names)
_NOT_PREFIXED = {"PATH", "PWD", "_", "SHLVL", "IFS", "OLDPWD", *_SHELL_SET["bash"]}
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_SHELLS = ("bash", "dash")  # by the binary a shell path resolves to (/bin/sh -> dash)


def plan(cmd: str, cwd: str, env: dict[str, str], shell: str | None) -> dict[str, Any] | None:
    """The warm-server request for a stage command, or None when it must run the normal way."""
    kind = _shell_kind(shell)
    if kind is None:
        return None
    words = cmd.split()
    if not words or "\n" in cmd or not all(_WORD.match(w) for w in words):
        return None
    shell_env = _shell_env(kind, env, cwd)
    if shell_env is None:
        return None
    env = shell_env
    while words and (m := _ASSIGN.match(words[0])):
        if m.group(1) in _NOT_PREFIXED:
            return None
        env[m.group(1)] = m.group(2)
        words = words[1:]
    if len(words) < 2:
        return None
    exe = words[0]
    path = env.get("PATH", "")
    if "/" not in exe and not all(os.path.isabs(p) for p in path.split(os.pathsep)):
        return None  # the shell looks a relative PATH entry up from the stage's directory
    found = os.path.join(cwd, exe) if "/" in exe else shutil.which(exe, path=path)
    if not found or not _same_python(found):
        return None
    req: dict[str, Any] = {
        "cwd": cwd,
        "executable": found if "/" not in exe else os.path.normpath(found),
        "orig_argv": words,
    }
    if words[1] == "-m":
        if len(words) < 3 or not _MODULE.match(words[2]):
            return None
        req.update(module=words[2], argv=["-m", *words[3:]], path0=cwd)
    elif words[1].endswith(".py") and not words[1].startswith("-"):
        script = os.path.join(cwd, words[1])
        if not os.path.isfile(script):
            return None
        path0 = os.path.dirname(os.path.realpath(script))
        req.update(script=words[1], argv=words[1:], path0=path0)
    else:
        return None
    # bash sets `_` to the command as found (dash leaves it as inherited); both set PWD to
    # the directory, unless the inherited one names it
    if kind == "bash":
        env["_"] = exe if "/" in exe else found
    pwd = env.get("PWD")
    if not (pwd and os.path.isabs(pwd) and _same_dir(pwd, cwd)):
        env["PWD"] = os.path.realpath(cwd)
    req["env"] = env
    return req


def _shell_env(kind: str, env: dict[str, str], cwd: str) -> dict[str, str] | None:
    """The environment `kind` of shell passes on to the command it runs in `cwd` (before the
    command's own NAME=VALUE words), or None when it would run start-up code or change a
    variable in a way not copied here (then the stage runs DVC's way)."""
    env = dict(env)
    if "IFS" in env:  # both reset it, and export the default
        env["IFS"] = " \t\n"
    if any(name in env for name in _SHELL_SET[kind]):
        return None  # variables the shell sets or resets itself
    if kind == "dash":  # drops what is no shell variable name (a.b=1, A-B=1)
        return {name: value for name, value in env.items() if _NAME.match(name)}
    if env.get("BASH_ENV") or any(name.startswith("BASH_FUNC_") for name in env):
        return None  # a file bash would source first; exported functions (may be the command)
    for name in ("PS1", "PS2"):  # a shell that is not interactive drops its prompts
        env.pop(name, None)
    level = env.get("SHLVL")  # bash counts it up, and down again to exec the command
    if level is None:
        env["SHLVL"] = "0"
    elif re.fullmatch("[0-9]+", level) and int(level) <= 998:
        env["SHLVL"] = str(int(level))
    else:
        return None  # bash resets (and warns about) a level out of range
    if "OLDPWD" in env and not os.path.isdir(os.path.join(cwd, env["OLDPWD"])):
        del env["OLDPWD"]
    return env


def _shell_kind(shell: str | None) -> str | None:
    """The kind, "bash" or "dash", of the binary `shell` runs (links followed), else None."""
    if shell is None:
        return None
    found = shell if os.path.isabs(shell) else shutil.which(shell)
    if not found or not os.access(found, os.X_OK) or os.path.basename(found).startswith("r"):
        return None  # missing, or restricted (rbash refuses a command with a slash)
    name = os.path.basename(os.path.realpath(found))
    return name if name in _SHELLS else None


def _same_dir(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _same_python(path: str) -> bool:
    """`path` starts the interpreter the server runs: same directory (same venv), same binary."""
    mine = sys.executable
    return os.path.dirname(os.path.abspath(path)) == os.path.dirname(
        os.path.abspath(mine)
    ) and os.path.realpath(path) == os.path.realpath(mine)


class WarmRunner:
    """One warm server per sweep worker (started with the worker's environment, in its process
    group); `run()` asks it to run one planned stage command."""

    def __init__(self, modules: list[str] | tuple[str, ...] = DEFAULT_MODULES) -> None:
        self.modules = list(modules)
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        server = Path(__file__).with_name("warmserver.py")
        self.proc = subprocess.Popen(
            [sys.executable, str(server), str(theirs.fileno()), ",".join(self.modules)],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self.ready: bool | None = None
        self.why = ""
        self.cpu = 0.0  # process time of the stage children run so far

    def _wait_ready(self) -> bool:
        if self.ready is None:
            msg = self.sock.recv(1 << 16)
            info = json.loads(msg) if msg else {"ready": False, "why": "the server died"}
            self.ready, self.why = bool(info["ready"]), str(info.get("why") or "")
        return self.ready

    def run(self, req: dict[str, Any]) -> int | None:
        """The stage's exit code (negative: killed by that signal), or None: run it normally."""
        if not self._wait_ready():
            return None
        try:
            self.sock.sendmsg(
                [json.dumps(req).encode()], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, _fds())]
            )
        except OSError:  # nothing started: the normal way is safe (a dead server: from now on)
            if self.proc.poll() is not None:
                self.ready, self.why = False, "the server died"
            return None
        main = threading.current_thread() is threading.main_thread()
        old = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            msg = self.sock.recv(1 << 16)
        finally:
            if old is not None:
                signal.signal(signal.SIGINT, old)
        if not msg:
            self.ready, self.why = False, "the server died"  # later stages: the normal way
            raise OSError("the warm stage server died while running the stage")
        reply = json.loads(msg)
        if "fallback" in reply:
            return None
        self.cpu += float(reply["cpu"])
        return int(reply["code"])

    def close(self) -> None:
        self.sock.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _fds() -> bytes:
    import array

    return array.array("i", [0, 1, 2]).tobytes()


def install(runner: WarmRunner) -> None:
    """Route DVC's stage command runner (dvc.stage.run._run, one call per command line) through
    `runner` in this process; anything it cannot run exactly goes to DVC's own `_run`."""
    import dvc.stage.run as dvc_run
    from dvc.stage.exceptions import StageCmdFailedError

    original = getattr(dvc_run._run, "__wrapped__", dvc_run._run)

    def _run(executable: str | None, cmd: str, **kwargs: Any) -> None:
        req = None
        if set(kwargs) == {"cwd", "env", "close_fds", "shell"} and not kwargs["shell"]:
            req = plan(cmd, str(kwargs["cwd"]), dict(kwargs["env"]), executable)
        code = runner.run(req) if req is not None else None
        log = os.environ.get(envnames.WARM_LOG)
        if log:
            with open(log, "a") as fh:
                fh.write(f"{'normal' if code is None else 'warm'}\t{cmd}\n")
        if code is None:
            original(executable, cmd, **kwargs)
        elif code != 0:
            raise StageCmdFailedError(cmd, code)

    _run.__wrapped__ = original  # type: ignore[attr-defined]
    dvc_run._run = _run
