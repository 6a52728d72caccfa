"""Staff credentials: scrypt password hashes from configuration, signed sessions, a limiter.

Pure logic, no HTTP: ui_login puts it in front of the staff area.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError
from .settings import Settings

SCHEME = "scrypt"
DEFAULT_COST = (2**14, 8, 1)  # n, r, p: about 16 MB and 50 ms per check
MAX_SESSION_HOURS = 12  # an active session is renewed, but never beyond this
ATTEMPTS, ATTEMPT_WINDOW_S = 5, 15 * 60  # failed logins per client address and window
FAILURE_DELAY_S = 0.5
_USER = re.compile(r"^[\w.@-]{1,64}$")


# -- password hashes ----------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=128 * n * r * p + (1 << 20)
    )


def hash_password(password: str, *, cost: tuple[int, int, int] = DEFAULT_COST) -> str:
    """ "scrypt$n$r$p$salt$hash" with a random salt, for KP_STAFF_USERS or KP_STAFF_FILE."""
    if not password:
        raise ValueError("empty password")
    n, r, p = cost
    salt = secrets.token_bytes(16)
    return f"{SCHEME}${n}${r}${p}${_b64(salt)}${_b64(_scrypt(password, salt, n, r, p))}"


def parse_hash(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    """The parts of a stored hash; ValueError if it is not one this module writes."""
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        raise ValueError("expected scrypt$n$r$p$salt$hash")
    n, r, p = (int(x) for x in parts[1:4])
    # bounded, so that a bad configuration cannot make each login take gigabytes
    if n < 2 or n & (n - 1) or n > 2**17 or not 1 <= r <= 32 or not 1 <= p <= 16:
        raise ValueError("scrypt cost out of range")
    salt, digest = _unb64(parts[4]), _unb64(parts[5])
    if len(salt) < 8 or len(digest) != 32:
        raise ValueError("salt or hash has the wrong length")
    return n, r, p, salt, digest


def verify_password(password: str, encoded: str) -> bool:
    try:
        n, r, p, salt, digest = parse_hash(encoded)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(_scrypt(password, salt, n, r, p), digest)


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
            raise ConfigError(f"{where}: skriv 'namn:scrypt$…' (invalid staff user entry).")
        check_username(name, where)
        try:
            parse_hash(encoded)
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
        try:
            text = Path(settings.staff_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"KP_STAFF_FILE={settings.staff_file}: kan inte läsas ({exc.strerror or exc})."
            ) from exc
        users.update(parse_users(text, f"KP_STAFF_FILE={settings.staff_file}"))
    return users


# -- sessions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    user: str
    issued: int
    expires: int
    nonce: str


class Sessions:
    """Signed cookies "v1.user.issued.expires.nonce.signature".

    Nothing is stored per session except the nonces of sessions that logged out. A renewed
    cookie keeps its login's nonce and issue time, so a logout ends every copy of the session
    and no renewal outlives MAX_SESSION_HOURS.
    """

    def __init__(self, secret: bytes, minutes: float) -> None:
        self._key = hashlib.sha256(b"kp-assistant staff session\0" + secret).digest()
        self.lifetime = max(1, round(minutes * 60))
        self._revoked: dict[str, int] = {}

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def issue(
        self,
        user: str,
        *,
        now: float | None = None,
        issued: float | None = None,
        nonce: str | None = None,
    ) -> str:
        now = int(time.time() if now is None else now)
        start = now if issued is None else int(issued)
        expires = min(now + self.lifetime, start + MAX_SESSION_HOURS * 3600)
        nonce = nonce or secrets.token_hex(8)
        payload = f"v1.{_b64(user.encode())}.{start}.{expires}.{nonce}"
        return f"{payload}.{self._sign(payload)}"

    def read(self, cookie: str | None, *, now: float | None = None) -> Session | None:
        if not cookie or len(cookie) > 512:
            return None
        payload, _, signature = cookie.rpartition(".")
        if not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            return None
        try:
            version, user, issued, expires, nonce = payload.split(".")
            session = Session(_unb64(user).decode(), int(issued), int(expires), nonce)
        except ValueError:
            return None
        now = time.time() if now is None else now
        if version != "v1" or session.expires <= now or session.nonce in self._revoked:
            return None
        if session.expires > session.issued + MAX_SESSION_HOURS * 3600:
            return None
        return session

    def renewal(self, session: Session, *, now: float | None = None) -> str | None:
        """A fresh cookie once less than half the lifetime is left: an idle timeout."""
        now = time.time() if now is None else now
        if session.expires - now > self.lifetime / 2:
            return None
        if session.issued + MAX_SESSION_HOURS * 3600 - now < 60:
            return None
        return self.issue(session.user, now=now, issued=session.issued, nonce=session.nonce)

    def revoke(self, session: Session) -> None:
        now = time.time()
        self._revoked = {n: t for n, t in self._revoked.items() if t > now}
        self._revoked[session.nonce] = session.issued + MAX_SESSION_HOURS * 3600


class LoginLimiter:
    """At most `attempts` failed logins per key (the client address) within `window` seconds."""

    def __init__(
        self,
        attempts: int = ATTEMPTS,
        window: float = ATTEMPT_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.attempts, self.window, self.clock = attempts, window, clock
        self._failures: dict[str, list[float]] = {}

    def _recent(self, key: str) -> list[float]:
        now = self.clock()
        recent = [t for t in self._failures.get(key, []) if now - t < self.window]
        if recent:
            self._failures[key] = recent
        else:
            self._failures.pop(key, None)
        return recent

    def wait(self, key: str) -> float:
        """Seconds until `key` may try again; 0 if it may now."""
        recent = self._recent(key)
        if len(recent) < self.attempts:
            return 0.0
        return max(0.0, recent[-self.attempts] + self.window - self.clock())

    def failed(self, key: str) -> None:
        self._failures.setdefault(key, []).append(self.clock())
        if len(self._failures) > 10_000:  # bounded memory under a spray of addresses
            for old in list(self._failures)[:5_000]:
                del self._failures[old]

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)


class StaffAuth:
    """The configured staff users, their sessions and the login limiter of one app."""

    def __init__(self, users: dict[str, str], secret: bytes, *, minutes: float = 60) -> None:
        self.users = users
        self.sessions = Sessions(secret, minutes)
        self.limiter = LoginLimiter()
        self.failure_delay = FAILURE_DELAY_S
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
        return cls(load_users(settings), secret, minutes=settings.staff_session_minutes)

    @property
    def enabled(self) -> bool:
        return bool(self.users)

    def check(self, user: str, password: str) -> bool:
        encoded = self.users.get(user)
        ok = verify_password(password, encoded or self._dummy)
        return ok and encoded is not None

    def session(self, cookie: str | None) -> Session | None:
        session = self.sessions.read(cookie)
        return session if session and session.user in self.users else None
