"""Staff sessions kept on the server, in a small SQLite file under the index folder.

The cookie holds only a random session id, signed with itsdangerous so that a forged value is
refused before any lookup. What a session is – its user, when it began, when it expires, the
password it was opened with – lives in the store, so logging out, expiry and a changed
password hold across restarts and across server processes sharing the index. Without a
store (tests), sessions live in memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from itsdangerous import BadSignature, URLSafeSerializer

MAX_SESSION_HOURS = 12  # an active session is renewed, but never beyond this
MAX_COOKIE_CHARS = 512

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,       -- sha256 of the session id: the file alone opens no session
    user TEXT NOT NULL,
    credential TEXT NOT NULL,  -- fingerprint of the password hash it was opened with
    issued INTEGER NOT NULL,
    expires INTEGER NOT NULL
)
"""


@dataclass(frozen=True)
class Session:
    id: str
    user: str
    credential: str
    issued: int
    expires: int


class SessionStore:
    def __init__(self, secret: bytes, minutes: float, path: Path | None = None) -> None:
        self._signer = URLSafeSerializer(secret, salt="kp-assistant staff session")
        self.lifetime = max(1, round(minutes * 60))
        self.path = path
        self._lock = threading.Lock()
        self._memory = sqlite3.connect(":memory:", check_same_thread=False) if path is None \
            else None
        with self._db() as db:
            db.execute(_SCHEMA)

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._memory is not None:
                with self._memory:
                    yield self._memory
                return
            assert self.path is not None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=10)
            try:
                with db:
                    yield db
            finally:
                db.close()

    def issue(self, user: str, credential: str, *, now: float | None = None) -> str:
        now_s = int(time.time() if now is None else now)
        sid = secrets.token_urlsafe(32)
        expires = min(now_s + self.lifetime, now_s + MAX_SESSION_HOURS * 3600)
        with self._db() as db:
            db.execute("DELETE FROM sessions WHERE expires <= ?", (now_s,))
            db.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
                       (_key(sid), user, credential, now_s, expires))
        return str(self._signer.dumps(sid))

    def read(self, cookie: str | None, *, now: float | None = None) -> Session | None:
        """The live session of a cookie, renewed when less than half its lifetime is left."""
        if not cookie or len(cookie) > MAX_COOKIE_CHARS:
            return None
        try:
            sid = self._signer.loads(cookie)
        except BadSignature:
            return None
        if not isinstance(sid, str):
            return None
        now_s = time.time() if now is None else now
        with self._db() as db:
            row = db.execute("SELECT user, credential, issued, expires FROM sessions WHERE id = ?",
                             (_key(sid),)).fetchone()
            if row is None:
                return None
            user, cred, issued, expires = row
            cap = issued + MAX_SESSION_HOURS * 3600
            if expires <= now_s or cap <= now_s:
                db.execute("DELETE FROM sessions WHERE id = ?", (_key(sid),))
                return None
            if expires - now_s < self.lifetime / 2:  # an idle timeout, not a fixed one
                expires = min(int(now_s) + self.lifetime, cap)
                db.execute("UPDATE sessions SET expires = ? WHERE id = ?", (expires, _key(sid)))
        return Session(sid, user, cred, issued, expires)

    def revoke(self, session: Session) -> None:
        with self._db() as db:
            db.execute("DELETE FROM sessions WHERE id = ?", (_key(session.id),))

    def revoke_user(self, user: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM sessions WHERE user = ?", (user,))

    def recredential(self, user: str, old: str, new: str) -> None:
        """Keep a user's sessions when only the encoding of the same password changed."""
        with self._db() as db:
            db.execute("UPDATE sessions SET credential = ? WHERE user = ? AND credential = ?",
                       (new, user, old))

    def count(self) -> int:
        with self._db() as db:
            return int(db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0])


def _key(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()
