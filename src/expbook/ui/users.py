"""The team dashboard's users (issue 23): a users file the admin writes, one `name = secret`
line per user (`Alice Smith <alice@example.com> = ...` sets the e-mail of her git identity),
and `UsersGuard`, the dashboard's access rules with one secret per user. A secret names its
user: the login page asks only for it, an `Authorization: Bearer` header may carry it, and the
session cookie is derived from it (so the cookie never holds a secret). Writes made through
the dashboard carry the signed-in user's name and e-mail as their git identity.

Used by expbook.ui.server (`create_app(users=...)`) and expbook.cli.ui_cmds (`--users FILE`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request

from expbook.errors import ExpbookError
from expbook.ui.auth import COOKIE, Guard, _same, check_secret

MAX_USERS_FILE = 1024 * 1024  # bytes
_NAME = re.compile(r"^([^<>=\x00-\x1f]+?)\s*(?:<([^<>\s]+@[^<>\s]+)>)?$")


@dataclass(frozen=True)
class User:
    """One user of the team dashboard: the git identity of their writes and their secret."""

    name: str
    email: str
    secret: str

    @property
    def session(self) -> str:
        return hmac.new(self.secret.encode(), b"expbook-session", hashlib.sha256).hexdigest()

    def public(self) -> dict[str, str]:
        return {"name": self.name, "email": self.email}


def default_email(name: str) -> str:
    """The e-mail of a user whose line names none: their name as a local part."""
    local = re.sub(r"[^A-Za-z0-9._-]+", ".", name).strip(".") or "user"
    return f"{local}@expbook.invalid"


def parse_users(text: str, source: str = "users file") -> tuple[User, ...]:
    """The users of a users file's text; ExpbookError naming the line that is wrong (no `=`,
    an empty name, a short secret, a name or secret given twice). `#` starts a comment line."""
    users: list[User] = []
    names: set[str] = set()
    secrets_seen: set[str] = set()
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{source}, line {number}"
        left, sep, secret = line.partition("=")
        if not sep:
            raise ExpbookError(f"{where}: expected `name = secret`")
        match = _NAME.match(left.strip())
        if not left.strip() or match is None:
            raise ExpbookError(
                f"{where}: the name must be `Name` or `Name <email>` (no control characters)"
            )
        name, email = match.group(1).strip(), match.group(2)
        secret = secret.strip()
        try:
            check_secret(secret)
        except ExpbookError as exc:
            raise ExpbookError(f"{where}: {exc}") from None
        if name in names:
            raise ExpbookError(f"{where}: user {name!r} is named twice")
        if secret in secrets_seen:
            raise ExpbookError(
                f"{where}: this secret is another user's too (a secret names a user)"
            )
        names.add(name)
        secrets_seen.add(secret)
        users.append(User(name, email or default_email(name), secret))
    if not users:
        raise ExpbookError(f"{source}: no users (write `name = secret` lines)")
    return tuple(users)


def load_users(path: str | os.PathLike[str]) -> tuple[User, ...]:
    """The users of the file at `path` (see parse_users); ExpbookError naming an unreadable one."""
    file = Path(path)
    try:
        if file.stat().st_size > MAX_USERS_FILE:
            raise ExpbookError(f"{path}: the users file is over {MAX_USERS_FILE} bytes")
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ExpbookError(f"cannot read the users file {path}: {exc}") from None
    return parse_users(text, str(path))


@dataclass(frozen=True)
class UsersGuard(Guard):
    """`Guard` with one secret per user: every request but the login page needs one of them;
    `user(request)` says whose it is."""

    users: tuple[User, ...] = ()

    @property
    def required(self) -> bool:
        return True

    def login(self, given: str) -> str | None:
        user = self._by_secret(given)
        if user is None:
            return None
        return f"{self.users.index(user)}.{user.session}"

    def _by_secret(self, given: str) -> User | None:
        found = None
        for user in self.users:  # every secret compared, in constant time each
            if _same(given, user.secret):
                found = user
        return found

    def user(self, request: Request) -> User | None:
        auth = request.headers.get("authorization", "")
        scheme, _, given = auth.partition(" ")
        if scheme.lower() == "bearer":
            return self._by_secret(given.strip())
        index, _, mac = request.cookies.get(COOKIE, "").partition(".")
        if not index.isdigit() or int(index) >= len(self.users):
            return None
        user = self.users[int(index)]
        return user if _same(mac, user.session) else None

    def authenticated(self, request: Request) -> bool:
        return self.user(request) is not None
