"""Server-side sessions behind a cookie (RFC 6265): the account page's visit counter.

The cookie holds only a random id; the count stays on the server. Attributes
(RFC 6265 §4.1.2, SameSite from RFC 6265bis): Secure (HTTPS only), HttpOnly
(no script access), SameSite=Lax (not sent on cross-site subrequests or POSTs).
Pure apart from the injected clock.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

COOKIE = "sid"
IDLE = 30 * 60.0  # seconds a session survives unused
_ID = re.compile(r"[A-Za-z0-9_-]{32}")


@dataclass
class Session:
    id: str
    visits: int
    created: float
    seen: float


@dataclass
class Sessions:
    clock: Callable[[], float]
    idle: float = IDLE
    max_sessions: int = 10_000
    _by_id: dict[str, Session] = field(default_factory=dict)

    def visit(self, cookie: str | None) -> tuple[Session, bool]:
        """The session for ``cookie`` with one more visit, and whether it is new."""
        now = self.clock()
        for sid in [s for s, v in self._by_id.items() if now - v.seen > self.idle]:
            del self._by_id[sid]
        session = self._by_id.get(cookie) if cookie and _ID.fullmatch(cookie) else None
        new = session is None
        if session is None:
            if len(self._by_id) >= self.max_sessions:
                del self._by_id[next(iter(self._by_id))]
            session = Session(id=secrets.token_urlsafe(24), visits=0, created=now, seen=now)
            self._by_id[session.id] = session
        session.visits += 1
        session.seen = now
        return session, new


def set_cookie(session_id: str) -> str:
    """The Set-Cookie value: no Expires/Max-Age, so it ends with the browser session."""
    return f"{COOKIE}={session_id}; Path=/; Secure; HttpOnly; SameSite=Lax"
