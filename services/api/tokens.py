"""Access tokens: JWT (RFC 7519) signed with HS256 (RFC 7518 §3.2).

Issue and check are pure functions of the secret and an injected clock. The
checks are the ones RFC 8725 (JWT best current practice) asks for: a fixed
algorithm list (so ``alg: none`` and algorithm confusion fail, §3.1), issuer
and audience (§3.8, §3.9), expiry, and required claims.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

ALGORITHM = "HS256"
ISSUER = "https://api.example.com"
AUDIENCE = "https://api.example.com/api"
LIFETIME = 900  # seconds; short-lived bearer tokens limit the damage of a leak
LEEWAY = 5  # seconds of clock skew tolerated on exp/iat (RFC 7519 §4.1.4)
REQUIRED = ["iss", "aud", "sub", "iat", "exp"]


class TokenError(Exception):
    """The token is not acceptable; ``str(e)`` is the error_description (RFC 6750 §3)."""


@dataclass(frozen=True)
class TokenConfig:
    secret: bytes
    clock: Callable[[], float]
    issuer: str = ISSUER
    audience: str = AUDIENCE
    lifetime: int = LIFETIME

    @property
    def kid(self) -> str:
        """Key id: a hash of the secret, so rotating the secret changes it (RFC 7515 §4.1.4)."""
        return hashlib.sha256(b"kid:" + self.secret).hexdigest()[:16]


def issue(config: TokenConfig, subject: str, lifetime: int | None = None) -> str:
    """A signed access token; ``lifetime`` may shorten (never lengthen) the default."""
    now = int(config.clock())
    seconds = config.lifetime if lifetime is None else min(lifetime, config.lifetime)
    claims = {
        "iss": config.issuer,
        "aud": config.audience,
        "sub": subject,
        "iat": now,
        "exp": now + seconds,
    }
    return jwt.encode(claims, config.secret, algorithm=ALGORITHM, headers={"kid": config.kid})


def verify(config: TokenConfig, token: str) -> dict[str, Any]:
    """The token's claims if it is valid now, else ``TokenError`` saying why."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError as e:
        raise TokenError("malformed token") from e
    if header.get("alg") != ALGORITHM:
        # Checked before the signature so "none" gets a clear message (RFC 8725 §2.1).
        raise TokenError(f"algorithm {header.get('alg')!r} not accepted")
    if header.get("kid") != config.kid:
        raise TokenError("unknown key id")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            config.secret,
            algorithms=[ALGORITHM],
            audience=config.audience,
            issuer=config.issuer,
            # PyJWT reads the wall clock; times are checked below with ours.
            options={
                "require": REQUIRED,
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.InvalidAudienceError as e:
        raise TokenError("token is for another audience") from e
    except jwt.InvalidIssuerError as e:
        raise TokenError("token from another issuer") from e
    except jwt.InvalidSignatureError as e:
        raise TokenError("signature does not verify") from e
    except jwt.MissingRequiredClaimError as e:
        raise TokenError(f"missing claim {e.claim!r}") from e
    except jwt.InvalidTokenError as e:
        raise TokenError(f"invalid token: {e}") from e
    _check_times(claims, config.clock())
    return claims


def _check_times(claims: dict[str, Any], now: float) -> None:
    """exp and iat are NumericDate (RFC 7519 §2); nbf is honoured when present."""
    for name in ("exp", "iat", "nbf"):
        if name in claims and (
            not isinstance(claims[name], int | float) or isinstance(claims[name], bool)
        ):
            raise TokenError(f"claim {name!r} is not a NumericDate")
    if now >= claims["exp"] + LEEWAY:
        raise TokenError("token expired")
    if claims["iat"] > now + LEEWAY:
        raise TokenError("token issued in the future")
    if "nbf" in claims and claims["nbf"] > now + LEEWAY:
        raise TokenError("token not yet valid")
