"""What the API's handlers share, as typed application keys (no module-level state)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from aiohttp import web

from services.api.events import EventHub
from services.api.faults import FaultConfig
from services.api.idempotency import IdempotencyStore
from services.api.ratelimit import RateLimiter
from services.api.refresh import RefreshTokens
from services.api.store import UserStore
from services.api.tokens import TokenConfig

MAX_BODY = 64 * 1024  # bytes; larger request bodies get 413 (RFC 9110 §15.5.14)


@dataclass(frozen=True)
class ApiConfig:
    """Settings beyond the store and the token key; defaults suit the lab and the tests."""

    admin_token: str | None = None  # enables /__fault (API_ADMIN_TOKEN or --admin-token)
    rate: float = 0.0  # requests per second per bearer token; 0 turns the limit off
    burst: int = 20
    max_body: int = MAX_BODY
    faults: FaultConfig = field(default_factory=FaultConfig)
    seed: int | None = None  # fixes the fault draws (tests, reproducible scenarios)
    # Crash tests only: SIGKILL the process once a POST /api/users has committed, before
    # it replies (--fault-kill-after-commit). Off unless asked; /__fault cannot set it.
    kill_after_commit: bool = False


@dataclass
class FaultSwitch:
    """The faults in force now; POST /__fault replaces ``config``."""

    config: FaultConfig = field(default_factory=FaultConfig)
    rng: random.Random = field(default_factory=random.Random)


STORE: web.AppKey[UserStore] = web.AppKey("store", UserStore)
TOKENS: web.AppKey[TokenConfig] = web.AppKey("tokens", TokenConfig)
CONFIG: web.AppKey[ApiConfig] = web.AppKey("config", ApiConfig)
REFRESH: web.AppKey[RefreshTokens] = web.AppKey("refresh", RefreshTokens)
IDEMPOTENCY: web.AppKey[IdempotencyStore] = web.AppKey("idempotency", IdempotencyStore)
LIMITER: web.AppKey[RateLimiter] = web.AppKey("limiter", RateLimiter)
FAULTS: web.AppKey[FaultSwitch] = web.AppKey("faults", FaultSwitch)
EVENTS: web.AppKey[EventHub] = web.AppKey("events", EventHub)
