"""The users resource: /api/users (list, create) and /api/users/{username} (read, write).

Every item response carries its ETag; PUT and PATCH need If-Match (428 without,
412 when stale), DELETE honours it when sent (see ``preconditions``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from services.api.auth import Principal, authenticate
from services.api.bodies import read_json, read_object
from services.api.events import change
from services.api.faults import sigkill_self
from services.api.idempotency import (
    HEADER,
    KeyInFlight,
    KeyReused,
    StoredResponse,
    fingerprint,
    parse_key,
)
from services.api.mergepatch import MEDIA_TYPE as MERGE_PATCH
from services.api.mergepatch import merge_patch
from services.api.paging import BadPageParameter, link_header, parse_page
from services.api.passwords import hash_password
from services.api.preconditions import etag_of, if_match_ok
from services.api.problems import ApiProblem, invalid
from services.api.state import CONFIG, EVENTS, IDEMPOTENCY, STORE
from services.api.store import NO_LOGIN, User, UserExists, validate_new_user, validate_replacement
from services.common.logs import log_event

logger = logging.getLogger(__name__)
NO_STORE = {"Cache-Control": "no-store"}
ITEM_METHODS = "GET, HEAD, PUT, PATCH, DELETE, OPTIONS"


def _item(user: User, status: int = 200, **headers: str) -> web.Response:
    doc = user.to_json()
    return web.json_response(
        doc,
        status=status,
        headers={**NO_STORE, "ETag": etag_of(doc), "Accept-Patch": MERGE_PATCH, **headers},
    )


def _found(request: web.Request) -> User:
    user = request.app[STORE].get(request.match_info["username"])
    if user is None:
        raise ApiProblem(404, detail=f"no user {request.match_info['username']!r}")
    return user


def _may_change(who: Principal, user: User, verb: str) -> None:
    if who.username != user.username and not who.admin:
        raise ApiProblem(
            403, type_="forbidden", detail=f"only {user.username} or an admin may {verb} this user"
        )


def _precondition(request: web.Request, user: User, *, required: bool) -> None:
    header = request.headers.get("If-Match")
    if header is None:
        if required:
            raise ApiProblem(
                428,
                type_="precondition-required",
                detail="send If-Match with the ETag from your last GET",
            )
        return
    current = etag_of(user.to_json())
    if not if_match_ok(header, current):
        # RFC 9110 §13.1.1: the representation changed since the client read it.
        raise ApiProblem(
            412,
            type_="stale-etag",
            headers={"ETag": current},
            detail=f"the user changed: current ETag is {current}",
        )


async def _hash(password: object) -> str | None:
    if not isinstance(password, str):
        return None
    return await asyncio.get_running_loop().run_in_executor(None, hash_password, password)


async def list_users(request: web.Request) -> web.Response:
    authenticate(request)
    try:
        page = parse_page(request.query)
    except BadPageParameter as e:
        raise ApiProblem(
            400,
            type_="invalid-parameter",
            detail=str(e),
            errors=[{"parameter": e.name, "detail": e.detail}],
        ) from e
    store = request.app[STORE]
    total = store.count()
    users = [u.to_json() for u in store.list(offset=page.offset, limit=page.per_page)]
    return web.json_response(
        {"users": users, "total": total, "page": page.number, "per_page": page.per_page},
        headers={
            **NO_STORE,
            "Link": link_header(request.path, page, total),
            "X-Total-Count": str(total),
        },
    )


async def get_user(request: web.Request) -> web.Response:
    authenticate(request)
    user = _found(request)
    if_none = request.headers.get("If-None-Match")
    if if_none and etag_of(user.to_json()) in (t.strip() for t in if_none.split(",")):
        return web.Response(status=304, headers={**NO_STORE, "ETag": etag_of(user.to_json())})
    return _item(user)


async def _create(
    request: web.Request,
    body: dict[str, Any],
    keep: Callable[[web.Response], None] | None = None,
) -> web.Response:
    """Insert the user; ``keep`` sees the 201 inside the insert's transaction."""
    errors = validate_new_user(body)
    if errors:
        raise invalid(errors)
    hashed = await _hash(body.get("password")) or NO_LOGIN
    store = request.app[STORE]
    try:
        # The row and its idempotency record commit together or not at all (no await here).
        with store.transaction():
            user = store.create(
                body["username"],
                body.get("display_name", body["username"]),
                hashed,
                email=body.get("email"),
            )
            # RFC 9110 §15.3.2: 201 with Location naming the new resource.
            response = _item(user, 201, Location=f"/api/users/{user.username}")
            if keep is not None:
                keep(response)
    except UserExists as e:
        raise ApiProblem(
            409, type_="user-exists", detail=f"user {body['username']!r} exists"
        ) from e
    if request.app[CONFIG].kill_after_commit:
        log_event(logger, "fault_kill_after_commit", username=user.username)
        sigkill_self()
    log_event(logger, "user_created", username=user.username)
    await request.app[EVENTS].publish(
        change("created", user.username, user.to_json(), etag_of(user.to_json()))
    )
    return response


def _stored(response: web.Response) -> StoredResponse:
    kept = tuple(
        (k, v)
        for k, v in response.headers.items()
        if k in ("Content-Type", "Location", "ETag", "Cache-Control")
    )
    payload = response.body if isinstance(response.body, bytes) else b""
    return StoredResponse(response.status, payload, kept)


async def create_user(request: web.Request) -> web.Response:
    who = authenticate(request)
    body, raw = await read_object(request, max_body=request.app[CONFIG].max_body)
    header = request.headers.get(HEADER)
    if header is None:
        return await _create(request, body)
    key = parse_key(header)
    if key is None:
        raise ApiProblem(
            400,
            type_="invalid-idempotency-key",
            detail=f"{HEADER} must be a string of 1 to 255 printable characters",
        )
    keys = request.app[IDEMPOTENCY]
    try:
        replay = keys.begin(who.username, key, fingerprint(request.method, request.path, raw))
    except KeyReused as e:
        raise ApiProblem(
            422,
            type_="idempotency-key-reused",
            detail=f"{HEADER} {key!r} was used with a different body",
        ) from e
    except KeyInFlight as e:
        raise ApiProblem(
            409,
            type_="idempotency-key-in-use",
            detail=f"a request with {HEADER} {key!r} is still being processed",
        ) from e
    if replay is not None:
        return web.Response(
            status=replay.status,
            body=replay.body,
            headers={**dict(replay.headers), "Idempotent-Replayed": "true"},
        )
    try:
        try:
            return await _create(
                request, body, keep=lambda r: keys.save(who.username, key, _stored(r))
            )
        except ApiProblem as e:
            response = e.response()
        if response.status < 500:  # a server failure may be retried for real
            keys.save(who.username, key, _stored(response))  # no row made: alone
        return response
    finally:
        keys.finish(who.username, key)


async def _replace(
    request: web.Request, who: Principal, user: User, new_state: dict[str, Any]
) -> web.Response:
    errors = validate_replacement(new_state, user)
    if errors:
        raise invalid(errors)
    hashed = await _hash(new_state.get("password"))
    # Checked after the await: nothing else can write between here and the UPDATE.
    current = _found(request)
    _precondition(request, current, required=True)
    updated = request.app[STORE].update(
        user.username, new_state["display_name"], new_state.get("email"), hashed
    )
    if updated is None:
        raise ApiProblem(404, detail=f"no user {user.username!r}")
    log_event(logger, "user_updated", username=user.username, by=who.username)
    await request.app[EVENTS].publish(
        change("updated", updated.username, updated.to_json(), etag_of(updated.to_json()))
    )
    return _item(updated)


async def put_user(request: web.Request) -> web.Response:
    who = authenticate(request)
    user = _found(request)
    _may_change(who, user, "replace")
    _precondition(request, user, required=True)
    body, _ = await read_object(request, max_body=request.app[CONFIG].max_body)
    return await _replace(request, who, user, body)


async def patch_user(request: web.Request) -> web.Response:
    """JSON Merge Patch (RFC 7396) applied to the user's representation."""
    who = authenticate(request)
    user = _found(request)
    _may_change(who, user, "change")
    _precondition(request, user, required=True)
    patch, _ = await read_json(request, MERGE_PATCH, max_body=request.app[CONFIG].max_body)
    if not isinstance(patch, dict):
        raise invalid([("", "a merge patch for a user must be a JSON object")])
    return await _replace(request, who, user, merge_patch(user.to_json(), patch))


async def delete_user(request: web.Request) -> web.Response:
    who = authenticate(request)
    user = _found(request)
    _may_change(who, user, "delete")
    _precondition(request, user, required=False)
    request.app[STORE].delete(user.username)
    log_event(logger, "user_deleted", username=user.username, by=who.username)
    await request.app[EVENTS].publish(change("deleted", user.username, None, None))
    return web.Response(status=204, headers=NO_STORE)  # RFC 9110 §9.3.5


async def options_item(request: web.Request) -> web.Response:
    """OPTIONS names the methods (RFC 9110 §9.3.7) and the PATCH format (RFC 5789 §3.1)."""
    return web.Response(status=204, headers={"Allow": ITEM_METHODS, "Accept-Patch": MERGE_PATCH})


async def options_collection(request: web.Request) -> web.Response:
    return web.Response(
        status=204, headers={"Allow": "GET, HEAD, POST, OPTIONS", "Accept-Post": "application/json"}
    )
