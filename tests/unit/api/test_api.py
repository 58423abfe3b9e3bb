"""The API over real TLS on 127.0.0.1: login, bearer checks, problem documents."""

from __future__ import annotations

import asyncio
import json as _json
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from services.api.app import make_app
from services.api.store import UserStore
from services.api.tokens import TokenConfig, issue
from services.common.errorpage import ErrorPageRunner

HOST = "api-origin.example.com"


async def call(
    server: TestServer,
    trust: ssl.SSLContext,
    method: str,
    path: str,
    *,
    token: str | None = None,
    json: Any = None,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, aiohttp.ClientResponse]:
    """One request over TLS; the body is parsed as JSON when there is one."""
    sent = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method,
            f"https://127.0.0.1:{server.port}{path}",
            ssl=trust,
            server_hostname=HOST,
            headers={**sent, **(headers or {})},
            json=json,
            data=data,
        ) as resp,
    ):
        raw = await resp.read()
        body = _json.loads(raw) if raw else None
        return resp.status, body, resp


async def login(api: TestServer, trust: ssl.SSLContext) -> str:
    status, body, _ = await call(
        api, trust, "POST", "/api/login", json={"username": "alice", "password": "wonderland"}
    )
    assert status == 200
    return str(body["access_token"])


async def test_login_returns_bearer_token(api: TestServer, trust: ssl.SSLContext) -> None:
    """Right credentials give a Bearer token, never cached (RFC 6749 §5.1)."""
    status, body, resp = await call(
        api, trust, "POST", "/api/login", json={"username": "alice", "password": "wonderland"}
    )
    assert status == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["refresh_token"]
    assert resp.headers["Cache-Control"] == "no-store"


async def test_login_may_shorten_the_token_lifetime(api: TestServer, trust: ssl.SSLContext) -> None:
    """expires_in asks for a shorter-lived token; its exp says so; out of range is 422."""
    import jwt

    status, body, _ = await call(
        api,
        trust,
        "POST",
        "/api/login",
        json={"username": "alice", "password": "wonderland", "expires_in": 2},
    )
    assert status == 200
    assert body["expires_in"] == 2
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 2
    for bad in (0, 901, "5", True):
        status, body, _ = await call(
            api,
            trust,
            "POST",
            "/api/login",
            json={"username": "alice", "password": "wonderland", "expires_in": bad},
        )
        assert status == 422, bad


@pytest.mark.parametrize(
    "creds",
    [{"username": "alice", "password": "nope"}, {"username": "nobody", "password": "wonderland"}],
)
async def test_bad_credentials(
    api: TestServer, trust: ssl.SSLContext, creds: dict[str, str]
) -> None:
    """Wrong password or unknown user: the same 401 problem."""
    status, body, resp = await call(api, trust, "POST", "/api/login", json=creds)
    assert status == 401
    assert body["detail"] == "wrong username or password"
    assert resp.headers["Content-Type"].startswith("application/problem+json")


async def test_me_with_token(api: TestServer, trust: ssl.SSLContext) -> None:
    """GET /api/me with the token names alice."""
    status, body, _ = await call(api, trust, "GET", "/api/me", token=await login(api, trust))
    assert status == 200
    assert body["username"] == "alice"


async def test_missing_token(api: TestServer, trust: ssl.SSLContext) -> None:
    """No Authorization: 401, a Bearer challenge without error code (RFC 6750 §3.1)."""
    status, body, resp = await call(api, trust, "GET", "/api/users")
    assert status == 401
    assert body["status"] == 401
    assert resp.headers["WWW-Authenticate"] == 'Bearer realm="weblab-api"'


async def test_expired_token(api: TestServer, trust: ssl.SSLContext, tokens: TokenConfig) -> None:
    """An expired token: 401 with error="invalid_token" and the reason."""
    old = TokenConfig(secret=tokens.secret, clock=lambda: tokens.clock() - 3600)
    status, _, resp = await call(api, trust, "GET", "/api/me", token=issue(old, "alice"))
    assert status == 401
    assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]
    assert 'error_description="token expired"' in resp.headers["WWW-Authenticate"]


async def test_create_user(api: TestServer, trust: ssl.SSLContext) -> None:
    """POST /api/users: 201 with Location, then listed; a second time 409."""
    token = await login(api, trust)
    new = {"username": "bob", "password": "builder123"}
    status, body, resp = await call(api, trust, "POST", "/api/users", token=token, json=new)
    assert status == 201
    assert resp.headers["Location"] == "/api/users/bob"
    status, body, _ = await call(api, trust, "GET", "/api/users", token=token)
    assert [u["username"] for u in body["users"]] == ["alice", "bob"]
    status, body, _ = await call(api, trust, "GET", "/api/users/bob", token=token)
    assert status == 200
    assert body["username"] == "bob"
    status, _, _ = await call(api, trust, "POST", "/api/users", token=token, json=new)
    assert status == 409


async def test_user_without_password_cannot_log_in(api: TestServer, trust: ssl.SSLContext) -> None:
    """A user created with only username and email exists but cannot log in."""
    token = await login(api, trust)
    status, body, _ = await call(
        api,
        trust,
        "POST",
        "/api/users",
        token=token,
        json={"username": "carol", "email": "carol@example.com"},
    )
    assert status == 201
    assert body["email"] == "carol@example.com"
    status, _, _ = await call(
        api, trust, "POST", "/api/login", json={"username": "carol", "password": "!"}
    )
    assert status == 401


async def test_invalid_user_is_422(api: TestServer, trust: ssl.SSLContext) -> None:
    """Invalid input: 422 problem naming the field at fault."""
    status, body, _ = await call(
        api,
        trust,
        "POST",
        "/api/users",
        token=await login(api, trust),
        json={"username": "x", "password": "12345678"},
    )
    assert status == 422
    assert body["type"].endswith("/validation-error")
    assert [e["field"] for e in body["errors"]] == ["username"]


async def test_invalid_json_is_400(api: TestServer, trust: ssl.SSLContext) -> None:
    """A body that is not JSON: 400 problem saying so."""
    status, body, _ = await call(
        api,
        trust,
        "POST",
        "/api/login",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert status == 400
    assert body["title"] == "Body is not valid JSON"


async def test_unknown_path_is_problem(api: TestServer, trust: ssl.SSLContext) -> None:
    """Router 404s are problem documents too."""
    status, body, _ = await call(api, trust, "GET", "/api/nothing")
    assert status == 404
    assert body["type"] == "about:blank"
    assert body["title"] == "Not Found"


async def test_healthz(api: TestServer, trust: ssl.SSLContext) -> None:
    """/healthz answers 200 once the database is readable."""
    status, body, _ = await call(api, trust, "GET", "/healthz")
    assert status == 200
    assert body["status"] == "ok"


async def test_hsts_on_every_api_answer(api: TestServer, trust: ssl.SSLContext) -> None:
    """The API sends HSTS for a year with includeSubDomains, on errors too (RFC 6797 §6.1)."""
    for method, path in (("GET", "/api"), ("GET", "/api/me"), ("GET", "/nowhere")):
        _, _, resp = await call(api, trust, method, path)
        assert resp.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


async def test_openapi_has_validators_and_revalidates(
    api: TestServer, trust: ssl.SSLContext
) -> None:
    """openapi.json carries an ETag and Last-Modified, and If-None-Match gets a 304."""
    status, body, resp = await call(api, trust, "GET", "/api/openapi.json")
    assert status == 200
    assert body["openapi"].startswith("3.")
    etag = resp.headers["ETag"]
    assert resp.headers["Last-Modified"].endswith("GMT")
    status, body, resp = await call(api, trust, "GET", "/api/openapi.json",
                                    headers={"If-None-Match": etag})  # fmt: skip
    assert status == 304
    assert body is None


async def test_openapi_gzipped_when_asked(api: TestServer, trust: ssl.SSLContext) -> None:
    """With Accept-Encoding: gzip the 23 KB description comes compressed, Vary says why."""
    async with (
        aiohttp.ClientSession(auto_decompress=False) as session,
        session.get(
            f"https://127.0.0.1:{api.port}/api/openapi.json",
            ssl=trust,
            server_hostname=HOST,
            headers={"Accept-Encoding": "gzip"},
        ) as resp,  # fmt: skip
    ):
        raw = await resp.read()
    assert resp.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in resp.headers["Vary"]
    assert len(raw) < 23_000 // 3


async def test_parser_errors_are_problem_documents(tmp_path: Path, tokens: TokenConfig) -> None:
    """A header field over aiohttp's 8,190-byte limit, straight to the API: 431 as a
    problem document like every other error of the API, not aiohttp's plain text."""
    runner = ErrorPageRunner(make_app(UserStore.open(tmp_path / "api.sqlite3"), tokens))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /api HTTP/1.1\r\nHost: api\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(65536), 10)
        writer.close()
    finally:
        await runner.cleanup()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"431"
    assert b"content-type: application/problem+json" in head.lower()
    doc = _json.loads(body)
    assert doc["status"] == 431
