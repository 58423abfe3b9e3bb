"""Fault injection for scenarios: the /__fault endpoint and the middleware that obeys it.

POST /__fault with ``Authorization: Bearer <API_ADMIN_TOKEN>`` and a JSON body
such as ``{"error_rate": 0.3, "status": 503, "retry_after": 1, "latency_ms": 200,
"drop_rate": 0}`` switches faults on; DELETE /__fault switches them off; GET
shows them. Without an admin token configured the endpoint refuses everything.
/healthz and /__fault itself are never faulted, so the lab stays controllable.
"""

from __future__ import annotations

import asyncio
import hmac
import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from services.api.bodies import read_object
from services.api.faults import FaultConfig, decide
from services.api.problems import ApiProblem, invalid, problem
from services.api.state import CONFIG, FAULTS
from services.common.logs import log_event

logger = logging.getLogger(__name__)
EXEMPT = ("/healthz", "/__fault")
ADMIN_REALM = 'Bearer realm="weblab-admin"'


def _require_admin(request: web.Request) -> None:
    expected = request.app[CONFIG].admin_token
    if not expected:
        raise ApiProblem(
            403,
            type_="faults-disabled",
            detail="fault injection is off: start the API with API_ADMIN_TOKEN or --admin-token",
        )
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    # Constant-time comparison: the admin token must not leak through timing.
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), expected.encode()
    ):
        raise ApiProblem(
            401,
            detail="this endpoint needs the admin bearer token",
            headers={"WWW-Authenticate": ADMIN_REALM},
        )


def _state(request: web.Request) -> web.Response:
    return web.json_response(
        request.app[FAULTS].config.to_json(), headers={"Cache-Control": "no-store"}
    )


async def show_faults(request: web.Request) -> web.Response:
    _require_admin(request)
    return _state(request)


async def set_faults(request: web.Request) -> web.Response:
    _require_admin(request)
    body, _ = await read_object(request, max_body=request.app[CONFIG].max_body)
    config, errors = FaultConfig.from_json(body)
    if errors:
        raise invalid(errors)
    request.app[FAULTS].config = config
    log_event(logger, "faults_set", **config.to_json())
    return _state(request)


async def clear_faults(request: web.Request) -> web.Response:
    _require_admin(request)
    request.app[FAULTS].config = FaultConfig()
    log_event(logger, "faults_cleared")
    return _state(request)


@web.middleware
async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    switch = request.app[FAULTS]
    if not switch.config.active or request.path in EXEMPT:
        response: web.StreamResponse = await handler(request)
        return response
    decision = decide(switch.config, switch.rng)
    if decision.latency:
        await asyncio.sleep(decision.latency)  # the injected delay itself
    if decision.drop:
        log_event(logger, "fault_drop", path=request.path)
        if request.transport is not None:
            request.transport.abort()  # no status line at all: the client sees a reset
        raise asyncio.CancelledError  # nothing more to send on this connection
    if decision.error:
        config = switch.config
        log_event(logger, "fault_error", path=request.path, status=config.status)
        headers = {} if config.retry_after is None else {"Retry-After": str(config.retry_after)}
        return problem(
            config.status,
            type_="injected-fault",
            headers=headers,
            detail="fault injected by the lab (POST /__fault)",
        )
    return await handler(request)
