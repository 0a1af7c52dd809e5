"""The warm stage server (`expbook sweep --warm-stages`): a Python process that imported the
heavy modules of a pipeline (torch, numpy) once and forks a child per stage command, which runs
`python -m MODULE ARGS` / `python FILE.py ARGS` the way a fresh interpreter would.

Started by expbook.sweep.warm (never by hand): `python warmserver.py FD MODULE,MODULE`. It is a
standalone script (imports nothing of expbook), so a child starts with only the preloaded
modules. It only imports: no thread may run when it forks (checked: it reports "cold" and the
worker runs every stage the normal way when an import started one, e.g. OpenBLAS with
OMP_NUM_THREADS > 1). Protocol (SOCK_SEQPACKET, JSON): request {argv, module | script, cwd,
env, executable} with the stage's stdin/stdout/stderr fds -> reply {code, cpu} or
{fallback: why}.
"""

from __future__ import annotations

import atexit
import builtins
import importlib
import importlib.machinery
import json
import os
import signal
import socket
import sys
import sysconfig
import threading
import types
from typing import Any

START_ENV = dict(os.environ)
BASE_PATH = list(sys.path)  # [this file's directory, PYTHONPATH entries..., stdlib, site]


def _entries(pythonpath: str | None, cwd: str) -> list[str]:
    """PYTHONPATH as the interpreter puts it on sys.path (absolute, '' = cwd)."""
    if not pythonpath:
        return []
    return [os.path.normpath(os.path.join(cwd, e)) for e in pythonpath.split(os.pathsep)]


def _dedup(paths: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for p in paths:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


def _tail() -> list[str] | None:
    """sys.path after the PYTHONPATH entries (stdlib, site-packages), or None when this
    interpreter's sys.path does not follow the rule the children's are rebuilt with."""
    start_cwd = os.getcwd()
    own = _entries(START_ENV.get("PYTHONPATH"), start_cwd)
    rest = BASE_PATH[1:]
    for e in own:
        if rest and rest[0] == e:
            rest = rest[1:]
        elif e in own[: own.index(e)] or e in rest:
            continue  # a duplicate the interpreter dropped
        else:
            return None
    return rest


# what a fresh interpreter reads at start-up: a stage whose environment differs here is cold
_STARTUP = ("PYTHON", "OMP_", "MKL_", "OPENBLAS_", "GOTO", "KMP_", "TORCH", "CUDA", "LD_", "LC_")
_STARTUP_EXACT = {"LANG", "HOME", "MALLOC_ARENA_MAX", "NUMEXPR_MAX_THREADS"}


def _startup_env(env: dict[str, str]) -> dict[str, str]:
    return {
        k: v
        for k, v in env.items()
        if (k.startswith(_STARTUP) or k in _STARTUP_EXACT) and k != "PYTHONPATH"
    }


def _foreign_modules(path: list[str]) -> str | None:
    """A preloaded module that `path` would import from elsewhere (the child would use a copy
    the stage would not get): its name, else None."""
    stdlib = (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"])
    for name, mod in list(sys.modules.items()):
        origin = getattr(getattr(mod, "__spec__", None), "origin", None)
        if "." in name or not origin or origin in ("built-in", "frozen"):
            continue
        if name == "__main__" or origin.startswith(stdlib):
            continue
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.origin != origin:
            return name
    return None


def _stdio() -> None:
    """sys.stdin/stdout/stderr as a fresh interpreter makes them for fds 0, 1, 2 (CPython's
    create_stdio: -u/PYTHONUNBUFFERED = unbuffered writers with write_through)."""
    import io

    enc, errors = sys.stdout.encoding, sys.stdout.errors
    buffered = not getattr(
        sys.stdout, "write_through", False
    )  # this interpreter had the same -u setting
    made: list[io.TextIOWrapper | None] = []
    for fd, mode, name in ((0, "rb", "<stdin>"), (1, "wb", "<stdout>"), (2, "wb", "<stderr>")):
        try:
            raw = io.FileIO(fd, mode, closefd=False)
        except OSError:
            made.append(None)
            continue
        raw.name = name
        buf: io.RawIOBase | io.BufferedIOBase = raw
        if buffered or mode == "rb":
            size = os.fstat(fd).st_blksize  # what open() picks
            size = size if size > 1 else io.DEFAULT_BUFFER_SIZE
            buf = (io.BufferedReader if mode == "rb" else io.BufferedWriter)(raw, size)
        line = buffered and (fd == 2 or raw.isatty())
        made.append(
            io.TextIOWrapper(
                buf,  # type: ignore[arg-type]
                encoding=enc,
                errors="backslashreplace" if fd == 2 else errors,
                newline="\n",
                line_buffering=line,
                write_through=not buffered,
            )
        )
    sys.stdin, sys.stdout, sys.stderr = made
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = made  # type: ignore[misc]


def _print_exception(exc: BaseException) -> None:
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next  # this file's frames: a fresh interpreter has none of them
    exc.__traceback__ = tb  # the hook prints the exception's own traceback
    sys.excepthook(type(exc), exc, tb)


def _child(sock: socket.socket, req: dict[str, Any], fds: list[int], path: list[str]) -> None:
    """The forked child: become the stage process, run it, exit with its code."""
    try:
        sock.close()
        for target, fd in enumerate(fds):
            if fd != target:
                os.dup2(fd, target)
                os.close(fd)
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sys.path[:] = path
        sys.executable = req["executable"]
        sys.argv = list(req["argv"])
        sys.orig_argv = list(req["orig_argv"])
        _stdio()
        if "numpy.random" in sys.modules:  # seeded from the OS at import, like a fresh one
            sys.modules["numpy.random"].seed()
        main = types.ModuleType("__main__")
        main.__dict__.update(__builtins__=builtins, __annotations__={})
        sys.modules["__main__"] = main
    except BaseException:  # a bug here: say so on the stage's stderr, exit EX_SOFTWARE
        import traceback

        os.write(2, ("expbook warm stage: " + traceback.format_exc()).encode())
        os._exit(70)
    code = 0
    try:
        if req.get("module"):
            import runpy

            runpy._run_module_as_main(req["module"])  # type: ignore[attr-defined]
        else:
            script = os.path.abspath(req["script"])
            with open(script, "rb") as fh:
                source = fh.read()
            main.__file__ = script
            main.__cached__ = None  # type: ignore[attr-defined]
            main.__loader__ = importlib.machinery.SourceFileLoader("__main__", script)
            exec(compile(source, script, "exec"), main.__dict__)  # what `python FILE` does
    except SystemExit as exc:
        if exc.code is None:
            code = 0
        elif isinstance(exc.code, int):
            code = exc.code
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except KeyboardInterrupt as exc:
        _print_exception(exc)
        _finish()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    except BaseException as exc:
        _print_exception(exc)
        code = 1
    code = _finish(code)
    os._exit(code & 0xFF if code >= 0 else code)


def _finish(code: int = 0) -> int:
    """What interpreter shutdown does: wait for threads, atexit, flush (a failed flush: 120)."""
    try:
        threading._shutdown()  # type: ignore[attr-defined]
    except BaseException as exc:
        _print_exception(exc)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except Exception:
            code = code or 120
    return code


def _threads() -> int:
    return len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else 1


def serve(fd: int, modules: list[str]) -> None:
    sock = socket.socket(fileno=fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the sweep stops this server, not Ctrl-C
    loaded = []
    for name in modules:
        try:
            importlib.import_module(name)
            loaded.append(name)
        except Exception:  # not installed, or broken: the stage imports it itself
            continue
    tail = _tail()
    if _threads() > 1:
        # OpenBLAS (numpy) starts its pool at import when OMP_NUM_THREADS > 1 and stops it
        # before each fork (its atfork handler): a probe fork shows whether that happened
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
    why = None
    if _threads() != 1 or threading.active_count() != 1:
        why = f"importing {', '.join(loaded)} started threads"
    elif tail is None:
        why = "this interpreter's sys.path does not follow PYTHONPATH"
    sys.stdout.flush(), sys.stderr.flush()
    sock.send(json.dumps({"ready": why is None, "why": why, "loaded": loaded}).encode())
    if why is not None:
        return
    assert tail is not None
    startup = _startup_env(START_ENV)
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(sock, 1 << 22, 3)
        except OSError:
            return
        if not msg:
            return  # the worker closed its end
        try:
            reply = _serve_one(sock, msg, fds, startup, tail)
        except (ValueError, KeyError, TypeError) as exc:  # a request it cannot read
            reply = {"fallback": f"an unreadable request ({exc.__class__.__name__})"}
        for fd in fds:
            os.close(fd)
        sock.send(json.dumps(reply).encode())


def _serve_one(
    sock: socket.socket, msg: bytes, fds: list[int], startup: Any, tail: list[str]
) -> dict[str, Any]:
    """Run one stage request in a forked child: {"code", "cpu"}, or {"fallback": why} when the
    stage must run the normal way (nothing of it has run then)."""
    req = json.loads(msg)
    env, cwd = req["env"], req["cwd"]
    path = _dedup([req["path0"] or cwd, *_entries(env.get("PYTHONPATH"), cwd), *tail])
    if _startup_env(env) != startup:
        return {"fallback": "its environment differs in a start-up variable"}
    if len(fds) != 3:
        return {"fallback": "no stdio"}
    if (foreign := _foreign_modules(path)) is not None:
        return {"fallback": f"its sys.path has another {foreign}"}
    try:
        pid = os.fork()
    except OSError as exc:  # EAGAIN/ENOMEM: the stage is not lost, it runs DVC's way
        return {"fallback": f"fork failed ({exc.strerror})"}
    if pid == 0:
        _child(sock, req, fds, path)
    _pid, status, usage = os.wait4(pid, 0)
    return {"code": os.waitstatus_to_exitcode(status), "cpu": usage.ru_utime + usage.ru_stime}


if __name__ == "__main__":
    serve(int(sys.argv[1]), [m for m in sys.argv[2].split(",") if m])
