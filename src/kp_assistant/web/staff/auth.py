"""Staff credentials: password hashes from configuration, server-side sessions, a limiter.

Pure logic, no HTTP: ui_login puts it in front of the staff area. New hashes are argon2id
(argon2-cffi); scrypt hashes written by earlier versions are still read, and replaced in
KP_STAFF_FILE by an argon2id hash at the next successful login.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path

from argon2 import PasswordHasher, extract_parameters
from argon2 import exceptions as argon2_errors

from kp_assistant.errors import ConfigError
from kp_assistant.settings import Settings
from kp_assistant.web.staff.sessions import MAX_SESSION_HOURS, Session, SessionStore

log = logging.getLogger(__name__)

__all__ = ["MAX_SESSION_HOURS", "LoginLimiter", "Session", "StaffAuth", "hash_password"]

SCRYPT = "scrypt"
ATTEMPTS, ATTEMPT_WINDOW_S = 5, 15 * 60  # failed logins per client address and window
ACCOUNT_ATTEMPTS = 10  # failed logins per account and window, from any address
MAX_TRACKED = 10_000  # limiter keys held at once; see LoginLimiter.attempt
FAILURE_DELAY_S = 0.5
SESSIONS_FILE = "staff_sessions.sqlite3"
_USER = re.compile(r"^[\w.@-]{1,64}$")
_HASHER = PasswordHasher()  # argon2id with the library's recommended cost


# -- password hashes ----------------------------------------------------------------------


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    """An argon2id hash ("$argon2id$v=19$…") with a random salt, for the staff configuration."""
    if not password:
        raise ValueError("empty password")
    return _HASHER.hash(password)


def _parse_scrypt(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != SCRYPT:
        raise ValueError("expected scrypt$n$r$p$salt$hash")
    n, r, p = (int(x) for x in parts[1:4])
    # bounded, so that a bad configuration cannot make each login take gigabytes
    if n < 2 or n & (n - 1) or n > 2**17 or not 1 <= r <= 32 or not 1 <= p <= 16:
        raise ValueError("scrypt cost out of range")
    salt, digest = _unb64(parts[4]), _unb64(parts[5])
    if len(salt) < 8 or len(digest) != 32:
        raise ValueError("salt or hash has the wrong length")
    return n, r, p, salt, digest


def check_hash(encoded: str) -> None:
    """ValueError unless `encoded` is an argon2 or scrypt hash this module can verify."""
    if encoded.startswith("$argon2"):
        try:
            params = extract_parameters(encoded)
        except Exception as exc:  # argon2 raises its own InvalidHashError
            raise ValueError(f"not a valid argon2 hash ({exc})") from None
        if params.memory_cost > 1 << 21 or params.time_cost > 20:
            raise ValueError("argon2 cost out of range")
        return
    _parse_scrypt(encoded)


def verify_password(password: str, encoded: str) -> bool:
    if encoded.startswith("$argon2"):
        try:
            return _HASHER.verify(encoded, password)
        except (argon2_errors.VerificationError, argon2_errors.InvalidHashError):
            return False
    try:
        n, r, p, salt, digest = _parse_scrypt(encoded)
    except (ValueError, TypeError):
        return False
    got = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32,
                         maxmem=128 * n * r * p + (1 << 20))
    return hmac.compare_digest(got, digest)


def needs_rehash(encoded: str) -> bool:
    if not encoded.startswith("$argon2"):
        return True
    try:
        return _HASHER.check_needs_rehash(encoded)
    except argon2_errors.InvalidHashError:
        return True


def check_username(name: str, where: str) -> None:
    if not _USER.match(name):
        raise ConfigError(
            f"{where}: '{name[:40]}' är inget giltigt användarnamn (bokstäver, siffror, . _ @ -)."
        )


def parse_users(text: str, where: str = "KP_STAFF_USERS") -> dict[str, str]:
    """'name:hash' entries separated by ';' or new lines; '#' starts a comment line."""
    users: dict[str, str] = {}
    for raw in re.split(r"[;\n]", text):
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        name, sep, encoded = entry.partition(":")
        name, encoded = name.strip(), encoded.strip()
        if not sep:
            raise ConfigError(f"{where}: skriv 'namn:$argon2id$…' (invalid staff user entry).")
        check_username(name, where)
        try:
            check_hash(encoded)
        except ValueError as exc:
            raise ConfigError(
                f"{where}: lösenordet för '{name}' är ingen hash från "
                f"`kp-assistant staff-password` ({exc})."
            ) from exc
        users[name] = encoded
    return users


def load_users(settings: Settings) -> dict[str, str]:
    users = parse_users(settings.staff_users)
    if settings.staff_file:
        users.update(parse_users(_read_staff_file(Path(settings.staff_file)),
                                 f"KP_STAFF_FILE={settings.staff_file}"))
    return users


def _read_staff_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"KP_STAFF_FILE={path}: kan inte läsas ({exc.strerror or exc}).") from exc


def credential(encoded: str) -> str:
    """What a session remembers of the password it was opened with: a changed password (a
    new hash in the configuration) ends every session opened with the old one."""
    return hashlib.sha256(encoded.encode()).hexdigest()[:32]


# -- the login limiter --------------------------------------------------------------------


class LoginLimiter:
    """At most `attempts` login attempts per key and `window` seconds, counted *before* the
    password is checked, so parallel requests cannot all get through.

    Keys are the client address and the account. A successful login clears both. When more
    than `max_keys` keys are tracked, only expired ones are dropped; if none has expired,
    new keys are refused for now rather than an old lockout being forgotten.
    """

    def __init__(self, attempts: int = ATTEMPTS, window: float = ATTEMPT_WINDOW_S, *,
                 max_keys: int = MAX_TRACKED,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.attempts, self.window, self.max_keys, self.clock = attempts, window, max_keys, clock
        self._tries: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def attempt(self, limits: Iterable[tuple[str, int]]) -> float:
        """Count one attempt for every (key, allowed attempts); 0 if it may go ahead, else
        the seconds until it may. A refused attempt is not counted."""
        limits = list(limits)
        with self._lock:
            now = self.clock()
            wait = 0.0
            for key, allowed in limits:
                tries = self._recent(key, now)
                if len(tries) >= allowed:
                    wait = max(wait, tries[-allowed] + self.window - now)
            new = [key for key, _ in limits if key not in self._tries]
            if not wait and new and len(self._tries) + len(new) > self.max_keys:
                self._prune(now)
                if len(self._tries) + len(new) > self.max_keys:
                    wait = self.window
            if wait:
                return max(wait, 1.0)
            for key, _ in limits:
                self._tries.setdefault(key, deque()).append(now)
            return 0.0

    def succeeded(self, keys: Iterable[str]) -> None:
        with self._lock:
            for key in keys:
                self._tries.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        tries = self._tries.get(key, deque())
        while tries and now - tries[0] >= self.window:
            tries.popleft()
        if not tries:
            self._tries.pop(key, None)
        return tries

    def _prune(self, now: float) -> None:
        for key in list(self._tries):
            self._recent(key, now)


# -- the staff configuration of one app ---------------------------------------------------


class StaffAuth:
    """The configured staff users, their sessions and the login limiter of one app."""

    def __init__(self, users: dict[str, str], secret: bytes, *, minutes: float = 60,
                 store: Path | None = None, staff_file: Path | None = None) -> None:
        self.users = users
        self.sessions = SessionStore(secret, minutes, store)
        self.limiter = LoginLimiter()
        self.failure_delay = FAILURE_DELAY_S
        self.staff_file = staff_file
        self._file_seen = _stamp(staff_file)
        self._base_users = dict(users)
        self._csrf_key = hashlib.sha256(b"kp-assistant csrf\0" + secret).digest()
        # checked for unknown names too, so that the answer time does not reveal who exists
        self._dummy = hash_password(secrets.token_hex(8))

    @classmethod
    def from_settings(cls, settings: Settings) -> StaffAuth:
        if settings.secret_key is None:
            secret = secrets.token_bytes(32)  # sessions end when the process ends
        else:
            secret = settings.secret_key.get_secret_value().encode()
            if len(secret) < 16:  # the value itself is never printed
                raise ConfigError("KP_SECRET_KEY är för kort: minst 16 tecken behövs.")
        users = load_users(settings)
        store = Path(settings.index_dir) / SESSIONS_FILE if users else None
        auth = cls(users, secret, minutes=settings.staff_session_minutes, store=store,
                   staff_file=Path(settings.staff_file) if settings.staff_file else None)
        auth._base_users = parse_users(settings.staff_users)
        return auth

    @property
    def enabled(self) -> bool:
        return bool(self.users)

    def _follow_file(self) -> None:
        """Read KP_STAFF_FILE again when it changed: a new password or a removed account
        takes effect without a restart."""
        if self.staff_file is None or (seen := _stamp(self.staff_file)) == self._file_seen:
            return
        self._file_seen = seen
        try:
            text = _read_staff_file(self.staff_file)
            users = parse_users(text, f"KP_STAFF_FILE={self.staff_file}")
        except ConfigError as exc:
            log.error("%s; keeping the accounts read before", exc)
            return
        self.users = {**self._base_users, **users}

    def check(self, user: str, password: str) -> bool:
        self._follow_file()
        encoded = self.users.get(user)
        ok = verify_password(password, encoded or self._dummy)
        if ok and encoded is not None and needs_rehash(encoded):
            self._rehash(user, encoded, password)
        return ok and encoded is not None

    def _rehash(self, user: str, old: str, password: str) -> None:
        """Replace an old hash with argon2id where the configuration can be written."""
        path = self.staff_file
        if path is None or user in self._base_users:
            log.warning("staff user %s has an old password hash; make a new one with "
                        "`kp-assistant staff-password`", user)
            return
        new = hash_password(password)
        try:
            lines = _read_staff_file(path).splitlines(keepends=True)
            changed = [re.sub(rf"^(\s*{re.escape(user)}\s*:\s*){re.escape(old)}",
                              lambda m: m.group(1) + new, line) for line in lines]
            tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
            tmp.write_text("".join(changed), encoding="utf-8")
            os.chmod(tmp, path.stat().st_mode & 0o777)
            os.replace(tmp, path)
        except (OSError, ConfigError) as exc:
            log.warning("cannot update the password hash of %s in %s: %s", user, path, exc)
            return
        self.sessions.recredential(user, credential(old), credential(new))
        self.users[user] = new
        self._file_seen = _stamp(path)
        log.info("password hash of %s upgraded to argon2id", user)

    def login(self, user: str) -> str:
        """A new session cookie for a user whose password was just checked."""
        return self.sessions.issue(user, credential(self.users[user]))

    def session(self, cookie: str | None) -> Session | None:
        self._follow_file()
        session = self.sessions.read(cookie)
        if session is None:
            return None
        encoded = self.users.get(session.user)
        if encoded is None or session.credential != credential(encoded):
            self.sessions.revoke(session)  # removed account or changed password
            return None
        return session

    def csrf_token(self, session: Session) -> str:
        """The token a script sends as X-CSRF-Token; bound to the session."""
        digest = hmac.new(self._csrf_key, session.id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def check_csrf(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(session), token or "")


def _stamp(path: Path | None) -> tuple[int, int] | None:
    try:
        st = path.stat() if path else None
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size) if st else None
