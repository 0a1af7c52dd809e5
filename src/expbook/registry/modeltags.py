"""GTO's git-tag format for a model registry: names, stages, SemVer versions and the tag text.

Exactly the tags GTO (iterative/gto) and `dvc artifacts get` read and write:

    name@v1.2.3#N     register         name@v1.2.3!#N    deregister
    name#stage#N      assign           name#stage!#N     unassign
    name@deprecated#N deprecate        (#N: one running counter per artifact)

A monorepo name `dir:model` is written `dir=model` in the tag. Names and stages are validated
as GTO validates them. Pure functions: no git here. In the registry wing because a GTO tag is a ref convention like
`refs/exps/...` (rows tell a model tag from a release tag); expbook.models builds on it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from expbook.errors import ExpbookError

REGISTER, DEREGISTER = "register", "deregister"
ASSIGN, UNASSIGN = "assign", "unassign"
DEPRECATE = "deprecate"
ACTIONS = (REGISTER, DEREGISTER, ASSIGN, UNASSIGN, DEPRECATE)

# GTO's patterns (gto/constants.py), kept in step with it by the differential tests
_DIRNAME = r"[a-zA-Z0-9-_./]+"
_NAME = r"[a-zA-Z0-9]([a-zA-Z0-9-/_]*[a-zA-Z0-9])?"
_NUM = r"0|[1-9]\d*"
_PRE = r"(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
SEMVER = (
    rf"(?P<major>{_NUM})\.(?P<minor>{_NUM})\.(?P<patch>{_NUM})"
    rf"(?:-(?P<prerelease>{_PRE}(?:\.{_PRE})*))?"
    r"(?:\+(?P<buildmetadata>[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
)
_NAME_RE = re.compile(f"^{_NAME}$")
_FULLNAME_RE = re.compile(f"^(?:{_DIRNAME}:)?{_NAME}$")
_SEMVER_RE = re.compile(f"^v{SEMVER}$")
_TAG_RE = re.compile(
    rf"^(?P<artifact>(?:{_DIRNAME}=)?{_NAME})"
    rf"(?:(?:#(?P<stage>{_NAME})|@(?P<version>v{SEMVER}))(?P<cancel>!?)"
    r"|@(?P<deprecated>deprecated)|@(?P<created>created))"
    r"(?:#(?P<counter>[0-9]+))?$"
)


_SHORTCUT_RE = re.compile(
    rf"(?P<artifact>(?:{_DIRNAME}:)?{_NAME})"
    rf"(?:#(?P<stage>{_NAME})|@(?P<version>latest|greatest|v{SEMVER}))"
)


class ModelError(ExpbookError):
    """A model-registry request that cannot be carried out (bad name, unknown version...)."""


@dataclass(frozen=True)
class TagName:
    """A parsed GTO tag name."""

    artifact: str  # as the user writes it: `dir:model`
    action: str
    version: str | None = None
    stage: str | None = None
    counter: int | None = None


def name_to_tag(name: str) -> str:
    return name.replace(":", "=")


def tag_to_name(text: str) -> str:
    return text.replace("=", ":")


MAX_NAME = 200  # a tag's last path component must fit a file name (255 bytes) with its suffix


def _ref_problem(name: str) -> str | None:
    """Why `name` cannot be written as (part of) a tag name, or None."""
    folder, sep, bare = name.rpartition(":")
    if sep and folder.endswith("/"):
        return f"the folder before ':' ends in '/' (write {folder.rstrip('/') + ':' + bare!r})"
    parts = name_to_tag(name).split("/")
    if any(p == "" for p in parts):
        return "an empty path component ('//' or a leading '/'): git refuses it in a tag name"
    if any(p.startswith(".") or p.endswith((".", ".lock")) or ".." in p for p in parts):
        return "a path component starting with '.' or ending '.lock': git refuses it in a tag"
    if len(name.encode()) > MAX_NAME:
        return f"longer than {MAX_NAME} characters (a tag name must fit a file name)"
    return None


def check_name(name: str) -> str:
    """A model name GTO accepts (`[dir:]name`; letters, digits, `-`, `_`, `/`) that git can
    also write as a tag name (`a//b`, `dir/.x:m` and 300-character names are refused: git or
    the file system would fail half-way)."""
    if not _FULLNAME_RE.fullmatch(name or "") or name.count(":") > 1:
        raise ModelError(
            f"invalid model name {name!r}: letters, digits, '-', '_' and '/' only, "
            "starting and ending with a letter or digit (a monorepo path goes "
            "before one ':', e.g. 'models/cnn:digits')"
        )
    problem = _ref_problem(name)
    if problem:
        raise ModelError(f"invalid model name {name!r}: {problem}")
    return name


def parse_shortcut(text: str) -> tuple[str, str | None, str | None]:
    """GTO's shortcuts: `name@v1.2.3` -> (name, version, None), `name#prod` -> (name, None,
    stage), `name@latest` -> (name, None, None); a plain name -> (name, None, None)."""
    m = _SHORTCUT_RE.fullmatch(text or "")
    if not m:
        return text, None, None
    version = m["version"] if m["version"] not in ("latest", "greatest") else None
    return m["artifact"], version, m["stage"]


def check_stage(stage: str) -> str:
    if not _NAME_RE.fullmatch(stage or ""):
        raise ModelError(
            f"invalid stage {stage!r}: letters, digits, '-', '_' and '/' only, "
            "starting and ending with a letter or digit"
        )
    problem = _ref_problem(stage)
    if problem:
        raise ModelError(f"invalid stage {stage!r}: {problem}")
    return stage


@dataclass(frozen=True)
class SemVer:
    """A `vX.Y.Z[-pre][+build]` version, ordered by SemVer precedence (build ignored)."""

    major: int
    minor: int
    patch: int
    pre: tuple[tuple[int, int | str], ...] = ()  # a release sorts after its pre-releases (key)
    text: str = ""

    @classmethod
    def parse(cls, text: str) -> SemVer:
        return _parse_semver(text)

    @classmethod
    def _parse(cls, text: str) -> SemVer:
        m = _SEMVER_RE.fullmatch(text or "")
        if not m:
            raise ModelError(
                f"invalid version {text!r}: SemVer with a leading 'v', e.g. v1.2.3 or v2.0.0-rc.1"
            )
        pre = m["prerelease"]
        parts: tuple[tuple[int, int | str], ...] = ()
        if pre:
            # numeric identifiers sort before alphanumeric ones, numerically
            parts = tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split("."))
        return cls(int(m["major"]), int(m["minor"]), int(m["patch"]), parts, text)

    @staticmethod
    def valid(text: str) -> bool:
        return bool(_SEMVER_RE.fullmatch(text or ""))

    @property
    def key(self) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]:
        # a release outranks its pre-releases: (1,) for a release, (0, parts) for a pre-release
        return (self.major, self.minor, self.patch, 0 if self.pre else 1, self.pre)

    def bump(self, part: str) -> str:
        if part == "major":
            return f"v{self.major + 1}.0.0"
        if part == "minor":
            return f"v{self.major}.{self.minor + 1}.0"
        # a pre-release's patch bump releases it (v1.0.1-rc.1 -> v1.0.1), as SemVer tools do
        return f"v{self.major}.{self.minor}.{self.patch + (0 if self.pre else 1)}"


@functools.lru_cache(maxsize=4096)
def _parse_semver(text: str) -> SemVer:  # sorting 1,500 versions parses each name once
    return SemVer._parse(text)


def parse_tag(text: str) -> TagName | None:
    """The parsed GTO tag `text`, or None when it is not one of GTO's tags."""
    m = _TAG_RE.fullmatch(text)
    if not m:
        return None
    counter = int(m["counter"]) if m["counter"] else None
    artifact = tag_to_name(m["artifact"])
    if m["version"]:
        action = DEREGISTER if m["cancel"] else REGISTER
        return TagName(artifact, action, version=m["version"], counter=counter)
    if m["stage"]:
        action = UNASSIGN if m["cancel"] else ASSIGN
        return TagName(artifact, action, stage=m["stage"], counter=counter)
    if m["deprecated"]:
        return TagName(artifact, DEPRECATE, counter=counter)
    return None  # `name@created`: GTO parses it, but no GTO version writes or indexes it


def format_tag(
    action: str, name: str, counter: int, version: str | None = None, stage: str | None = None
) -> str:
    """The tag text GTO writes for `action` (its non-"simple" form, with the counter)."""
    base = name_to_tag(name)
    body = {
        REGISTER: f"{base}@{version}",
        DEREGISTER: f"{base}@{version}!",
        ASSIGN: f"{base}#{stage}",
        UNASSIGN: f"{base}#{stage}!",
        DEPRECATE: f"{base}@deprecated",
    }[action]
    return f"{body}#{counter}"
