"""The sweep trial record (expbook.sweep.record.TrialRecord) and the sweep state JSON it is
stored in: a state written before the type existed (tests/data/sweep_state_3108b26.json, made
by a real sweep of main at 3108b26, plus hand-made recovered, promoted, interrupted and
older-baseline trials) reads, shows and resumes unchanged; records round-trip.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pygit2
import pytest

from conftest import commit_all, git_init
from expbook.errors import ExpbookError
from expbook.sweep import state
from expbook.sweep.record import NEW_KEYS, TrialRecord
from test_sweep_support import exp_refs, run_cli, tiny_repo

DATA = Path(__file__).parent / "data"
OLD_STATE = json.loads((DATA / "sweep_state_3108b26.json").read_text())
# the sweep that wrote it: `expbook sweep -S train.lr=... -S train.wd=... --seeds 2 -m val.acc --name old`
OLD_SWEEP = (
    "-S",
    "train.lr=0.001,0.666,0.01",
    "-S",
    "train.wd=0,0.01",
    "--seeds",
    "2",
    "-m",
    "val.acc",
)


def put_state(repo: Path, doc: dict) -> None:
    """Commit `doc` as the sweep's state ref exactly as given (no `updated` stamp added)."""
    g = pygit2.Repository(str(repo))
    blob = g.create_blob(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    tree = g.TreeBuilder()
    tree.insert(state.STATE_FILE, blob, pygit2.enums.FileMode.BLOB)
    sig = pygit2.Signature("t", "t@example.com")
    sha = g.create_commit(None, sig, sig, "state", tree.write(), [])
    g.references.create(state.STATE_PREFIX + doc["name"], sha, force=True)


@pytest.fixture
def old_repo(tmp_path: Path) -> Path:
    """A git repo holding the old state ref (status, best and the dashboard read git alone)."""
    (tmp_path / "repo").mkdir()
    repo = git_init(tmp_path / "repo")
    (repo / "x").write_text("x\n")
    commit_all(repo, "first")
    put_state(repo, OLD_STATE)
    return repo


def test_old_state_records_round_trip_with_the_same_keys_in_the_same_order(old_repo):
    doc = state.load(str(old_repo), "old")
    records = state.trials(doc)
    assert [list(r.to_json().items()) for r in records] == [
        list(t.items()) for t in OLD_STATE["trials"]
    ]
    older = records[0]  # a key this version does not know is kept, not dropped
    assert older.extra == {"node": "gpu-3"} and older.to_json()["node"] == "gpu-3"
    recovered = next(r for r in records if r.name == "old-012")  # as `_recover` wrote it
    assert recovered.cid is None and "cid" not in recovered.to_json()
    promoted = next(r for r in records if r.kind == "promote")
    assert promoted.parent == records[1].rev and promoted.cid == -1
    assert [r.status for r in state.baseline_trials(doc, None)].count("success") == 9


def test_sweep_status_and_best_of_an_old_state_print_what_3108b26_printed(old_repo):
    """`sweep status --json` is byte for byte what main at 3108b26 printed for this state."""
    out = run_cli(old_repo, "sweep", "status", "old", "--json").stdout
    assert out == (DATA / "sweep_status_3108b26.json").read_text()
    csv = run_cli(old_repo, "sweep", "status", "old", "-f", "csv").stdout
    assert csv.splitlines()[0] == (
        "name,rev,kind,baseline,ref,status,cid,config,duration,error,number,overrides,"
        "params_hash,parent,seed,timing,values"
    )
    best = json.loads(run_cli(old_repo, "sweep", "best", "old", "--top", "2", "--json").stdout)
    assert [e["trials"] for e in best] == [["old-009", "old-010"], ["old-001", "old-002"]]
    assert best[0]["values"] == [pytest.approx(1.0005)]


def test_dashboard_shows_an_old_state(old_repo):
    pytest.importorskip("starlette")
    from starlette.testclient import TestClient

    from expbook.ui import create_app

    client = TestClient(create_app(str(old_repo)), base_url="http://127.0.0.1")
    listed = client.get("/api/sweeps").json()["sweeps"]
    assert listed[0]["name"] == "old"
    assert listed[0]["counts"] == {"success": 10, "failed": 4, "interrupted": 1}
    page = client.get("/api/sweep", params={"name": "old"})
    assert page.status_code == 200, page.text
    data = page.json()
    assert data["trials"] == json.loads((DATA / "sweep_status_3108b26.json").read_text())["trials"]
    assert data["counts"] == {"success": 9, "failed": 4, "interrupted": 1}
    assert [b["best"] for b in data["best_so_far"]][-1] == pytest.approx(1.001)


def record(**kw) -> TrialRecord:
    base = {
        "number": 3,
        "name": "lr-003",
        "cid": 2,
        "config": {"train.lr": 0.01, "train.opt": "001"},
        "seed": 1,
        "overrides": {"params.yaml:train.lr": 0.01, "params.yaml:base.seed": 1},
        "params_hash": "0123456789abcdef",
        "baseline": "a" * 40,
        "kind": "trial",
    }
    return TrialRecord(**{**base, **kw})


def test_a_new_record_round_trips_through_json():
    rec = record()
    assert tuple(rec.to_json()) == NEW_KEYS  # what the driver wrote before the dataclass
    assert rec.to_json()["status"] == "queued" and rec.to_json()["rev"] is None
    rec.settle(
        {
            "number": 3,
            "status": "success",
            "rev": "b" * 40,
            "ref": "refs/exps/aa/x/lr-003",
            "values": [0.5, None],
            "duration": 1.25,
            "timing": {"reproduce": 1.0},
            "metrics": {"metrics.json:acc": 0.5},
        }
    )
    text = json.dumps(rec.to_json(), sort_keys=True)
    back = TrialRecord.from_json(json.loads(text))
    assert back == rec
    assert back.to_json() == rec.to_json()
    assert list(rec.to_json())[-2:] == ["duration", "timing"]
    assert "metrics" not in rec.to_json()  # the result's metrics are not stored


def test_a_failed_result_drops_values_and_keeps_null_timings():
    rec = record()
    rec.settle({"number": 3, "status": "failed", "error": "Ray task lost: boom", "values": [1.0]})
    out = rec.to_json()
    assert out["values"] is None and out["error"] == "Ray task lost: boom"
    assert out["duration"] is None and out["timing"] is None  # as the dict version wrote them


def test_a_record_from_its_note_matches_what_the_state_would_hold():
    rec = record()
    note = {**rec.note("lr"), "status": "success", "values": [0.5], "error": None}
    back = TrialRecord.from_note(note, "lr-003", "c" * 40, "refs/exps/x/lr-003", "a" * 40)
    assert (back.number, back.config, back.seed, back.params_hash) == (
        3,
        rec.config,
        1,
        rec.params_hash,
    )
    assert back.status == "success" and back.values == [0.5] and back.cid is None
    assert "cid" not in back.to_json() and "duration" not in back.to_json()


@pytest.mark.parametrize(
    "data, fragment",
    [
        (["not", "an", "object"], "not a JSON object"),
        ({"number": 1}, "no `name`"),
        ({"name": "x-001", "number": "1"}, "number='1', expected int or null"),
        ({"name": "x-001", "number": True}, "number=True"),
        ({"name": "x-001", "values": 0.5}, "values=0.5, expected list or null"),
        ({"name": "x-001", "config": "lr=1"}, "config='lr=1', expected dict or null"),
    ],
)
def test_a_malformed_record_is_an_error_naming_the_key(data, fragment):
    with pytest.raises(ExpbookError) as err:
        TrialRecord.from_json(data, "sweep state refs/expbook/sweeps/x")
    assert fragment in str(err.value) and "refs/expbook/sweeps/x" in str(err.value)


def test_a_minimal_old_record_reads_with_defaults():
    rec = TrialRecord.from_json({"name": "x-001", "status": "success", "config": None})
    assert (rec.kind, rec.number, rec.config, rec.values) == ("trial", None, {}, None)


@pytest.mark.slow
def test_a_sweep_resumes_from_a_state_written_before_the_record_type(tmp_path, tmp_path_factory):
    """The old state's finished trials are skipped, its failed ones run again, and every old
    record (the other baseline's too) is written back unchanged."""
    repo = tiny_repo(tmp_path / "repo", tmp_path_factory)
    head = pygit2.Repository(str(repo)).head.peel().id
    doc = copy.deepcopy(OLD_STATE)
    old_base = doc["baseline"]
    doc["baseline"] = str(head)
    for t in doc["trials"]:
        if t["baseline"] == old_base:
            t["baseline"] = str(head)
    put_state(repo, doc)
    out = json.loads(run_cli(repo, "sweep", *OLD_SWEEP, "--name", "old", "--json").stdout)
    assert out["skipped"] == 9  # 8 trials + the promoted run: success, never run again
    new = [t for t in out["trials"] if t["number"] >= 14]
    assert sorted(t["config"]["train.lr"] for t in new) == [0.666] * 4
    assert all(t["status"] == "failed" for t in new)
    assert exp_refs(repo) == {}  # nothing succeeded, nothing old was re-run
    after = state.load(str(repo), "old")["trials"]
    kept = [t for t in doc["trials"] if t["status"] in ("success", "pruned", "failed")]
    assert [t for t in after if t["number"] < 14 or t["baseline"] != str(head)] == kept
