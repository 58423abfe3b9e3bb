"""The JSON API: login, then bearer-protected user resources (RFC 6750)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from services.api.passwords import DUMMY_HASH, hash_password, verify_password
from services.api.problems import field_error, problem, problem_middleware
from services.api.store import NO_LOGIN, UserExists, UserStore, validate_new_user
from services.api.tokens import TokenConfig, TokenError, issue, verify
from services.common.logs import log_event

STORE: web.AppKey[UserStore] = web.AppKey("store", UserStore)
TOKENS: web.AppKey[TokenConfig] = web.AppKey("tokens", TokenConfig)

REALM = 'Bearer realm="weblab-api"'
logger = logging.getLogger(__name__)


class Unauthorized(Exception):
    """No usable bearer token; ``description`` is None when none was sent at all."""

    def __init__(self, description: str | None) -> None:
        super().__init__(description)
        self.description = description


def _unauthorized(e: Unauthorized) -> web.Response:
    # RFC 6750 §3.1: no error code when the request had no credentials at all.
    challenge = REALM
    if e.description is not None:
        challenge += f', error="invalid_token", error_description="{e.description}"'
    return problem(401, type_="invalid-token" if e.description else None,
                   detail=e.description or "this resource needs an Authorization: Bearer token",
                   headers={"WWW-Authenticate": challenge})


def authenticate(request: web.Request) -> str:
    """The token's subject, or ``Unauthorized``."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(None)
    try:
        claims = verify(request.app[TOKENS], token.strip())
    except TokenError as e:
        raise Unauthorized(str(e)) from e
    return str(claims["sub"])


class InvalidBody(Exception):
    """The body is not a JSON object; answered 400 invalid-json."""

    def __init__(self, title: str, detail: str) -> None:
        super().__init__(detail)
        self.title = title
        self.detail = detail


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or ``InvalidBody`` saying what is wrong."""
    raw = await request.read()
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InvalidBody("Body is not valid JSON", str(e)) from e
    if not isinstance(body, dict):
        raise InvalidBody("Body is not a JSON object",
                          f"expected a JSON object, got {type(body).__name__}")
    return body


def _invalid(errors: list[tuple[str, str]]) -> web.Response:
    return problem(422, type_="validation-error", title="Invalid request body",
                   detail="; ".join(f"{f}: {d}" for f, d in errors),
                   errors=[field_error(f, d) for f, d in errors])


async def login(request: web.Request) -> web.Response:
    body = await json_object(request)
    errors = [(f, "required, a string") for f in ("username", "password")
              if not isinstance(body.get(f), str)]
    if errors:
        return _invalid(errors)
    username, password = str(body["username"]), str(body["password"])
    stored = request.app[STORE].password_hash(username)
    # scrypt costs ~50 ms: off the event loop. The dummy hash keeps timing alike.
    ok = await asyncio.get_running_loop().run_in_executor(
        None, verify_password, password, stored or DUMMY_HASH)
    if not ok or stored is None:
        log_event(logger, "login_failed", username=username)
        return problem(401, type_="invalid-credentials", detail="wrong username or password",
                       headers={"WWW-Authenticate": REALM})
    config = request.app[TOKENS]
    log_event(logger, "login", username=username)
    # RFC 6749 §5.1: token responses are never cached.
    return web.json_response({"access_token": issue(config, username), "token_type": "Bearer",
                              "expires_in": config.lifetime},
                             headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


async def me(request: web.Request) -> web.Response:
    user = request.app[STORE].get(authenticate(request))
    if user is None:  # the token outlived its user
        raise Unauthorized("the token's user no longer exists")
    return web.json_response(user.to_json(), headers={"Cache-Control": "no-store"})


async def list_users(request: web.Request) -> web.Response:
    authenticate(request)
    users = [u.to_json() for u in request.app[STORE].list()]
    return web.json_response({"users": users}, headers={"Cache-Control": "no-store"})


async def get_user(request: web.Request) -> web.Response:
    authenticate(request)
    user = request.app[STORE].get(request.match_info["username"])
    if user is None:
        return problem(404, detail=f"no user {request.match_info['username']!r}")
    return web.json_response(user.to_json(), headers={"Cache-Control": "no-store"})


async def create_user(request: web.Request) -> web.Response:
    authenticate(request)
    body = await json_object(request)
    errors = validate_new_user(body)
    if errors:
        return _invalid(errors)
    password = body.get("password")
    hashed = NO_LOGIN
    if isinstance(password, str):
        hashed = await asyncio.get_running_loop().run_in_executor(None, hash_password, password)
    try:
        user = request.app[STORE].create(body["username"],
                                         body.get("display_name", body["username"]), hashed,
                                         email=body.get("email"))
    except UserExists:
        return problem(409, type_="user-exists", detail=f"user {body['username']!r} exists")
    log_event(logger, "user_created", username=user.username)
    # RFC 9110 §15.3.2: 201 with Location naming the new resource.
    return web.json_response(user.to_json(), status=201,
                             headers={"Location": f"/api/users/{user.username}",
                                      "Cache-Control": "no-store"})


async def info(request: web.Request) -> web.Response:
    """Public and cacheable: lets the edge show a HIT on the API name too."""
    return web.json_response({"name": "weblab demo API", "login": "/api/login"},
                             headers={"Cache-Control": "public, max-age=30"})


async def healthz(request: web.Request) -> web.Response:
    request.app[STORE].list()  # the database answers
    return web.json_response({"status": "ok", "service": "api"},
                             headers={"Cache-Control": "no-store"})


@web.middleware
async def auth_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
    except Unauthorized as e:
        return _unauthorized(e)
    except InvalidBody as e:
        return problem(400, type_="invalid-json", title=e.title, detail=e.detail)
    return response


def make_app(store: UserStore, tokens: TokenConfig) -> web.Application:
    app = web.Application(middlewares=[problem_middleware, auth_middleware])
    app[STORE] = store
    app[TOKENS] = tokens
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api", info)
    app.router.add_post("/api/login", login)
    app.router.add_get("/api/me", me)
    app.router.add_get("/api/users", list_users)
    app.router.add_post("/api/users", create_user)
    app.router.add_get("/api/users/{username}", get_user)

    async def close_store(app: web.Application) -> AsyncIterator[None]:
        yield
        app[STORE].close()

    app.cleanup_ctx.append(close_store)
    return app
