"""Helpers of the dashboard tests: a real DVC repo whose experiments write dvclive step curves,
a confusion matrix (PNG in git, JSON plot) and a DVC-cached image; a server on a free port in
a thread; headless Chromium through selenium (Debian's chromium + chromium-driver).

Used by tests/test_ui*.py.
"""

from __future__ import annotations

import shutil
import socket
import textwrap
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import commit_all, dvc, dvc_init, git_init, sh

# one stage: curves as dvclive TSVs, metrics, a confusion matrix as PNG (git) and JSON, and a
# sample image as a DVC-cached output (read from .dvc/cache)
TRAIN_PY = textwrap.dedent("""\
    import json, os, struct, zlib
    import yaml
    t = yaml.safe_load(open("params.yaml"))["train"]
    lr, seed = t["lr"], t["seed"]
    def tsv(path, name, fn):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(f"timestamp\\tstep\\t{name}\\n")
            for s in range(30):
                f.write(f"{1700000000000 + s * 1500}\\t{s}\\t{fn(s):.6f}\\n")
    tsv("live/plots/metrics/train/loss.tsv", "loss", lambda s: 1 / (1 + s * lr * 10) + seed * 0.01)
    tsv("live/plots/metrics/val/acc.tsv", "acc", lambda s: 1 - 1 / (1 + s * lr * 5) - seed * 0.01)
    acc = round(1 - 1 / (1 + 29 * lr * 5) - seed * 0.01, 6)
    with open("live/metrics.json", "w") as f:
        json.dump({"val": {"acc": acc}, "train": {"loss": round(1 - acc, 6)}}, f)
    os.makedirs("live/plots/sklearn", exist_ok=True)
    pairs = [{"actual": str(a), "predicted": str(a if (a + i) % 4 else (a + 1) % 3)} for a in range(3) for i in range(8)]
    with open("live/plots/sklearn/confusion_matrix.json", "w") as f:
        json.dump({"train": pairs}, f)
    def png(path, w, h, shade):
        rows = b"".join(b"\\x00" + b"".join(bytes((x * 255 // w, y * 255 // h, shade)) for x in range(w)) for y in range(h))
        chunk = lambda k, d: struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d))
        data = b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        data += chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    png("plots/confusion_matrix.png", 96, 96, int(lr * 1000) % 255)
    png("plots/samples.png", 64, 32, 128)
    with open("model.bin", "w") as f:
        f.write(f"model {lr} {seed}")
""")

DVC_YAML = textwrap.dedent("""\
    stages:
      train:
        cmd: python train.py
        deps: [train.py]
        params: [train]
        outs: [model.bin, plots/samples.png]
        metrics:
          - live/metrics.json:
              cache: false
        plots:
          - live/plots:
              cache: false
          - plots/confusion_matrix.png:
              cache: false
""")

XSS_NOTE = '<img src=x onerror="window.__pwned=1">'
XSS_TAG = "<script>window.__pwned=2</script>"


def build_ui_repo(path: Path) -> dict[str, str]:
    """A repo with 4 experiments (2 learning rates x 2 seeds); returns name -> sha."""
    path.mkdir(parents=True, exist_ok=True)
    git_init(path)
    dvc_init(path)
    (path / "train.py").write_text(TRAIN_PY)
    (path / "dvc.yaml").write_text(DVC_YAML)
    (path / "params.yaml").write_text("train:\n  lr: 0.1\n  seed: 0\n  label: base\n")
    (path / ".gitignore").write_text("/model.bin\n")
    dvc("repro", "-q", cwd=path)
    commit_all(path, "baseline")
    names = {}
    runs = [("lr1-s0", 0.1, 0), ("lr1-s1", 0.1, 1), ("lr3-s0", 0.3, 0), ("lr3-s1", 0.3, 1)]
    for name, lr, seed in runs:
        label = XSS_NOTE if name == "lr3-s1" else "plain"
        dvc(
            "exp",
            "run",
            "-q",
            "-n",
            name,
            "-S",
            f"train.lr={lr}",
            "-S",
            f"train.seed={seed}",
            "-S",
            f"train.label='{label}'",
            cwd=path,
        )
        names[name] = sh(
            "git", "rev-parse", f"refs/exps/{_exp_ref(path, name)}", cwd=path
        ).stdout.strip()
    return names


_BUILT: dict[str, tuple[Path, dict[str, str]]] = {}


def shared_ui_repo(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """(path, {exp name: sha}): one repo per test process, shared by the ui test modules (it
    takes ~40 s to build)."""
    if "repo" not in _BUILT:
        path = tmp_path_factory.mktemp("ui") / "repo"
        _BUILT["repo"] = (path, build_ui_repo(path))
    return _BUILT["repo"]


def _exp_ref(path: Path, name: str) -> str:
    out = sh("git", "for-each-ref", "--format=%(refname)", "refs/exps", cwd=path).stdout.split()
    return next(r for r in out if r.endswith("/" + name))[len("refs/exps/") :]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(app, port: int | None = None):
    """Run `app` with uvicorn in a thread on 127.0.0.1; yields the base URL; always stops it."""
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def chromium_available() -> bool:
    return bool(shutil.which("chromium") and shutil.which("chromedriver"))


# the pytestmark of every test module that drives headless Chromium
BROWSER_MARKS = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not chromium_available(), reason="needs chromium + chromedriver (make test)"
    ),
]


@contextmanager
def browser(offline: bool = False):
    """Headless Chromium (the system one) driven by selenium; quit on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium")
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
        "--allow-file-access-from-files",
    ):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    try:
        if offline:
            driver.set_network_conditions(
                offline=True, latency=0, download_throughput=0, upload_throughput=0
            )
        yield driver
    finally:
        driver.quit()


def wait_for(driver, script: str, timeout: float = 20):
    """Poll a JS expression until it is truthy; returns its value."""
    deadline = time.time() + timeout
    while True:
        value = driver.execute_script("return " + script)
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for: {script}")
        time.sleep(0.1)
