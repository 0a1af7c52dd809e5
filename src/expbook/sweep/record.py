"""One sweep trial's record (`TrialRecord`), the dicts that carry a trial to a worker and back
(`TrialTask`, `TrialResult`) and into its expbook note (`SweepNote`), and a config's runs
ranked together (`RankedConfig`, made by expbook.sweep.ranking).

The driver keeps one record per run; the sweep state (expbook.sweep.state) stores `to_json()` of
each and `from_json()` reads them back, also from states written before this type existed: the
keys are the same, keys this version does not know are kept and written back unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NotRequired, TypedDict

from expbook.errors import ExpbookError

SETTLED = ("success", "pruned", "failed")  # a run that ended (the others: queued, running,
KEPT = ("success", "pruned")  # interrupted); KEPT ones are never run again on their baseline


class SweepNote(TypedDict):
    """The `sweep` entry of a trial's expbook note; a resumed sweep reads it back (`_recover`)."""

    name: str  # the sweep's name
    trial: int | None  # the trial number
    params_hash: str | None
    parent: str | None
    config: dict[str, Any]
    seed: int | None
    overrides: dict[str, Any] | None
    kind: str
    status: NotRequired[str]  # these three once the trial finished
    values: NotRequired[list[float | None] | None]
    error: NotRequired[str | None]


class TrialTask(TypedDict):
    """What a backend gets to run one trial (pickled to a worker process or a Ray node)."""

    number: int
    name: str
    overrides: dict[str, Any]
    repo: str
    metric_keys: list[str]
    sweep: SweepNote
    # added by the backend that runs it
    prune_key: NotRequired[str | None]  # Ray: the metric whose curve is reported
    prune_file: NotRequired[str]  # touched to ask the trial to stop
    log: NotRequired[str]  # the stage output
    write_note: NotRequired[bool]  # False: the driver writes the note (remote backends)
    reproduce: NotRequired[dict[str, Any]]  # keyword arguments of dvc's Repo.reproduce


class TrialResult(TypedDict, total=False):
    """What a backend hands back for a finished (or lost) trial."""

    number: int
    name: str
    status: str
    rev: str
    ref: str
    values: list[float | None]
    error: str | None
    metrics: dict[str, Any]  # flattened `file:key -> value` of the trial's metrics files
    duration: float
    timing: dict[str, float]  # seconds per phase (prepare, reproduce, metrics, commit, send)
    node: str  # Ray: the host that ran it
    bundle: bytes  # Ray without a git remote: the exp commit as a git bundle


class RankedConfig(TypedDict):
    """One config of a sweep with its runs (one per seed), as `sweep status/best` show it."""

    config: dict[str, Any]
    values: list[float | None]  # per metric: the mean over the runs of `status`
    status: str  # pruned if any run was, else success if any run was, else failed
    trials: list[str]  # run names, by number
    revs: list[str]
    seeds: int  # how many runs
    error: str | None  # the first run's error


# key -> the JSON types a stored value may have (checked on load: an error names the key)
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "number": (int, type(None)),
    "name": (str,),
    "cid": (int, type(None)),
    "config": (dict, type(None)),
    "seed": (int, type(None)),
    "overrides": (dict, type(None)),
    "params_hash": (str, type(None)),
    "baseline": (str, type(None)),
    "status": (str,),
    "kind": (str,),
    "parent": (str, type(None)),
    "rev": (str, type(None)),
    "ref": (str, type(None)),
    "values": (list, type(None)),
    "error": (str, type(None)),
    "duration": (int, float, type(None)),
    "timing": (dict, type(None)),
}
# a record the driver makes; a finished run adds duration and timing
NEW_KEYS = tuple(k for k in _JSON_TYPES if k not in ("duration", "timing"))
_NOTE_KEYS = (  # a record rebuilt from its note (`from_note`): no cid, duration or timing
    *("number", "name", "baseline", "rev", "ref", "status", "values", "config", "seed"),
    *("params_hash", "overrides", "parent", "kind", "error"),
)


@dataclass(kw_only=True)
class TrialRecord:
    """One run of a sweep: a trial (one config, one seed) or a promoted re-run."""

    number: int | None = None  # the NNN of its name
    name: str  # NAME-NNN, also the name of its DVC experiment ref
    cid: int | None = None  # the driver's config id in the run that made it (promote: < 0)
    config: dict[str, Any] = field(default_factory=dict)  # swept key -> value
    seed: int | None = None  # the seed index (None: one seed)
    overrides: dict[str, Any] | None = None  # `file:key -> value` written into the params
    params_hash: str | None = None  # of the overrides: what a resumed sweep skips
    baseline: str | None = None  # the commit it ran on
    status: str = "queued"  # queued, running, success, pruned, failed or interrupted
    kind: str = "trial"  # or "promote"
    parent: str | None = None  # promote: the rev of the best trial it re-runs
    rev: str | None = None  # the exp commit
    ref: str | None = None  # the exp ref
    values: list[float | None] | None = None  # one per spec metric
    error: str | None = None
    duration: float | None = None  # seconds
    timing: dict[str, float] | None = None  # seconds per phase
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know
    # the JSON object's keys, in order: what was read (a JSON or CSV export shows the same
    # columns as before), else what the driver writes
    json_keys: tuple[str, ...] = field(default=NEW_KEYS, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any, where: str = "sweep state") -> TrialRecord:
        """A record as the state JSON holds it; an error naming the key for a wrong type."""
        if not isinstance(data, Mapping):
            raise ExpbookError(f"{where}: a trial record is not a JSON object: {data!r:.80}")
        label = data.get("name", "?")
        for key, types in _JSON_TYPES.items():
            value = data.get(key)
            if key in data and (not isinstance(value, types) or isinstance(value, bool)):
                expected = " or ".join("null" if t is type(None) else t.__name__ for t in types)
                raise ExpbookError(
                    f"{where}: trial {label!r} has {key}={value!r:.80}, expected {expected}"
                )
        if "name" not in data:
            raise ExpbookError(f"{where}: a trial record has no `name`")
        known = {k: data[k] for k in _JSON_TYPES if k in data}
        known["config"] = known.get("config") or {}
        for key in ("status", "kind"):  # a null here reads as the default
            if known.get(key) is None:
                known.pop(key, None)
        extra = {k: v for k, v in data.items() if k not in _JSON_TYPES}
        return cls(**known, extra=extra, json_keys=tuple(data))

    def to_json(self) -> dict[str, Any]:
        """The state JSON's object: the keys it was read with (unknown ones as they were), in
        their order, plus any field set since."""
        out: dict[str, Any] = {}
        for key in self.json_keys:
            out[key] = getattr(self, key) if key in _JSON_TYPES else self.extra.get(key)
        for key in _JSON_TYPES:
            if key not in out and getattr(self, key) is not None:
                out[key] = getattr(self, key)
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out

    @classmethod
    def from_note(
        cls, note: Mapping[str, Any], name: str, rev: str, ref: str, baseline: str
    ) -> TrialRecord:
        """A finished trial rebuilt from its exp ref and note (the state missed it)."""
        return cls(
            number=note.get("trial"),
            name=name,
            baseline=baseline,
            rev=rev,
            ref=ref,
            status=note.get("status", "success"),
            values=note.get("values"),
            config=note["config"],
            seed=note.get("seed"),
            params_hash=note.get("params_hash"),
            overrides=note.get("overrides"),
            parent=note.get("parent"),
            kind=note.get("kind", "trial"),
            json_keys=_NOTE_KEYS,
        )

    def note(self, sweep: str) -> SweepNote:
        """The `sweep` note entry of this run of sweep `sweep` (status etc. added when done)."""
        return {
            "name": sweep,
            "trial": self.number,
            "params_hash": self.params_hash,
            "parent": self.parent,
            "config": self.config,
            "seed": self.seed,
            "overrides": self.overrides,
            "kind": self.kind,
        }

    def settle(self, result: TrialResult) -> None:
        """Take a backend's result: status, exp ref, metric values, error and timings."""
        self.status = result.get("status", "failed")
        self.rev, self.ref = result.get("rev"), result.get("ref")
        self.values, self.error = result.get("values"), result.get("error")
        self.duration, self.timing = result.get("duration"), result.get("timing")
        if self.status == "failed":
            self.values = None
        missing = tuple(k for k in ("duration", "timing") if k not in self.json_keys)
        self.json_keys += missing  # written even when null (a lost Ray task has no timing)
