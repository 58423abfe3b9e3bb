"""Who is calling: login, refresh, bearer checks (RFC 6750) and the per-token rate limit."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass

from aiohttp import web

from services.api.bodies import read_object
from services.api.passwords import DUMMY_HASH, verify_password
from services.api.problems import ApiProblem, invalid
from services.api.refresh import RefreshError
from services.api.state import CONFIG, LIMITER, REFRESH, STORE, TOKENS
from services.api.tokens import TokenError, issue, verify
from services.common.logs import log_event

REALM = 'Bearer realm="weblab-api"'
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Principal:
    username: str
    role: str

    @property
    def admin(self) -> bool:
        return self.role == "admin"


def unauthorized(description: str | None) -> ApiProblem:
    """401 with a Bearer challenge; no error code when no credentials came (RFC 6750 §3.1)."""
    challenge = REALM
    if description is not None:
        challenge += f', error="invalid_token", error_description="{description}"'
    return ApiProblem(
        401,
        type_="invalid-token" if description else None,
        detail=description or "this resource needs an Authorization: Bearer token",
        headers={"WWW-Authenticate": challenge},
    )


def bearer_token(request: web.Request) -> str | None:
    """From Authorization (RFC 6750 §2.1), or ``access_token`` in the query (§2.3), which
    only the WebSocket endpoint accepts because browsers cannot set headers there."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    if request.path.endswith("/events"):
        return request.query.get("access_token") or None
    return None


def authenticate(request: web.Request) -> Principal:
    """The caller, or ``ApiProblem`` 401 (no/bad token) or 429 (over the rate limit)."""
    token = bearer_token(request)
    if token is None:
        raise unauthorized(None)
    try:
        claims = verify(request.app[TOKENS], token)
    except TokenError as e:
        raise unauthorized(str(e)) from e
    retry = request.app[LIMITER].check(hashlib.sha256(token.encode()).hexdigest())
    if retry is not None:
        config = request.app[CONFIG]
        raise ApiProblem(
            429,
            type_="rate-limited",
            headers={"Retry-After": str(retry)},
            detail=f"more than {config.rate:g} requests per second "
            f"(burst {config.burst}) with this token",
        )
    user = request.app[STORE].get(str(claims["sub"]))
    if user is None:  # the token outlived its user
        raise unauthorized("the token's user no longer exists")
    return Principal(username=user.username, role=user.role)


def _token_response(
    request: web.Request, username: str, lifetime: int | None = None
) -> web.Response:
    config = request.app[TOKENS]
    seconds = config.lifetime if lifetime is None else min(lifetime, config.lifetime)
    # RFC 6749 §5.1: token responses are never cached.
    return web.json_response(
        {
            "access_token": issue(config, username, seconds),
            "token_type": "Bearer",
            "expires_in": seconds,
            "refresh_token": request.app[REFRESH].issue(username),
        },
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


async def login(request: web.Request) -> web.Response:
    body, _ = await read_object(request, max_body=request.app[CONFIG].max_body)
    errors = [
        (f, "required, a string")
        for f in ("username", "password")
        if not isinstance(body.get(f), str)
    ]
    # A client may ask for a shorter-lived token (the api scenario's expired-token
    # case); never a longer one than the server's lifetime.
    lifetime = body.get("expires_in")
    if "expires_in" in body and (
        isinstance(lifetime, bool) or not isinstance(lifetime, int) or not 1 <= lifetime <= 900
    ):
        errors.append(("expires_in", "an integer from 1 to 900 (seconds)"))
    if errors:
        raise invalid(errors)
    username, password = str(body["username"]), str(body["password"])
    stored = request.app[STORE].password_hash(username)
    # scrypt costs ~50 ms: off the event loop. The dummy hash keeps timing alike.
    ok = await asyncio.get_running_loop().run_in_executor(
        None, verify_password, password, stored or DUMMY_HASH
    )
    if not ok or stored is None:
        log_event(logger, "login_failed", username=username)
        raise ApiProblem(
            401,
            type_="invalid-credentials",
            detail="wrong username or password",
            headers={"WWW-Authenticate": REALM},
        )
    log_event(logger, "login", username=username)
    return _token_response(request, username, lifetime if isinstance(lifetime, int) else None)


async def refresh(request: web.Request) -> web.Response:
    """POST /api/token/refresh {"refresh_token": ...}: a new access and refresh token."""
    body, _ = await read_object(request, max_body=request.app[CONFIG].max_body)
    token = body.get("refresh_token")
    if not isinstance(token, str) or set(body) != {"refresh_token"}:
        raise invalid([("refresh_token", "required, a string, and the only member")])
    try:
        username = request.app[REFRESH].redeem(token)
    except RefreshError as e:
        # RFC 6749 §5.2: a bad refresh token is invalid_grant, status 400.
        raise ApiProblem(400, type_="invalid-grant", detail=str(e)) from e
    if request.app[STORE].get(username) is None:
        raise ApiProblem(400, type_="invalid-grant", detail="the token's user no longer exists")
    log_event(logger, "token_refreshed", username=username)
    return _token_response(request, username)
