"""services.api.tokens: issued tokens verify; every RFC 8725 failure is refused by name."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from services.api.tokens import LEEWAY, TokenConfig, TokenError, issue, verify

NOW = 1_700_000_000.0


def config(now: float = NOW, secret: bytes = b"s" * 32) -> TokenConfig:
    return TokenConfig(secret=secret, clock=lambda: now)


def b64(doc: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()


def test_valid_token_round_trips() -> None:
    """A fresh token verifies and carries iss, aud, sub, iat, exp and a kid header."""
    token = issue(config(), "alice")
    claims = verify(config(), token)
    assert claims["sub"] == "alice"
    assert claims["exp"] - claims["iat"] == 900
    assert {"iss", "aud", "iat", "exp"} <= set(claims)
    assert jwt.get_unverified_header(token)["kid"] == config().kid


def test_expired() -> None:
    """After exp (plus leeway) the token is refused as expired."""
    token = issue(config(), "alice")
    with pytest.raises(TokenError, match="expired"):
        verify(config(NOW + 900 + LEEWAY), token)


def test_wrong_audience() -> None:
    """A token minted for another audience is refused."""
    other = TokenConfig(secret=b"s" * 32, clock=lambda: NOW, audience="https://other")
    with pytest.raises(TokenError, match="audience"):
        verify(config(), issue(other, "alice"))


def test_wrong_issuer() -> None:
    """A token from another issuer (same key) is refused."""
    other = TokenConfig(secret=b"s" * 32, clock=lambda: NOW, issuer="https://evil")
    with pytest.raises(TokenError, match="issuer"):
        verify(config(), issue(other, "alice"))


def test_tampered_payload() -> None:
    """Changing the subject without re-signing breaks the signature."""
    header, _payload, sig = issue(config(), "alice").split(".")
    forged = b64(
        {
            "iss": "https://api.example.com",
            "aud": "https://api.example.com/api",
            "sub": "admin",
            "iat": int(NOW),
            "exp": int(NOW) + 900,
        }
    )
    with pytest.raises(TokenError, match="signature"):
        verify(config(), f"{header}.{forged}.{sig}")


def test_other_secret() -> None:
    """A token signed with another key is refused (its kid is unknown)."""
    with pytest.raises(TokenError, match="key id"):
        verify(config(), issue(config(secret=b"x" * 32), "alice"))


def test_alg_none() -> None:
    """An unsigned token (alg none, RFC 8725 §2.1) is refused before any signature check."""
    token = (
        b64({"alg": "none", "typ": "JWT", "kid": config().kid})
        + "."
        + b64({"sub": "alice", "iat": int(NOW), "exp": int(NOW) + 60})
        + "."
    )
    with pytest.raises(TokenError, match="algorithm 'none'"):
        verify(config(), token)


def test_algorithm_swap() -> None:
    """HS512 with the right key is still refused: the algorithm list is fixed."""
    cfg = config()
    token = jwt.encode({"sub": "alice"}, cfg.secret, algorithm="HS512", headers={"kid": cfg.kid})
    with pytest.raises(TokenError, match="algorithm"):
        verify(cfg, token)


def test_missing_claim() -> None:
    """A signed token without exp is refused."""
    cfg = config()
    token = jwt.encode(
        {
            "iss": "https://api.example.com",
            "aud": "https://api.example.com/api",
            "sub": "alice",
            "iat": int(NOW),
        },
        cfg.secret,
        algorithm="HS256",
        headers={"kid": cfg.kid},
    )
    with pytest.raises(TokenError, match="exp"):
        verify(cfg, token)


def test_issued_in_the_future() -> None:
    """A token whose iat lies beyond the leeway is refused."""
    token = issue(config(NOW + 3600), "alice")
    with pytest.raises(TokenError, match="future"):
        verify(config(), token)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "Bearer x"])
def test_malformed(garbage: str) -> None:
    """Strings that are not JWS compact serialization are refused as malformed."""
    with pytest.raises(TokenError):
        verify(config(), garbage)


def test_rs256_token_refused() -> None:
    """Algorithm confusion the other way: an RS256 token (own RSA key) is refused by name."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(
        {"sub": "alice", "iat": int(NOW), "exp": int(NOW) + 60},
        key,
        algorithm="RS256",
        headers={"kid": config().kid},
    )
    with pytest.raises(TokenError, match="algorithm 'RS256' not accepted"):
        verify(config(), token)


def test_hs256_signed_with_public_key_text_refused() -> None:
    """The classic confusion: HS256 keyed with public key text (signed by hand) is refused."""
    import hashlib
    import hmac

    cfg = config()
    signing_input = (
        b64({"alg": "HS256", "typ": "JWT", "kid": cfg.kid})
        + "."
        + b64(
            {
                "iss": cfg.issuer,
                "aud": cfg.audience,
                "sub": "admin",
                "iat": int(NOW),
                "exp": int(NOW) + 60,
            }
        )
    )
    public_pem = b"-----BEGIN PUBLIC KEY-----\nMFkw...\n-----END PUBLIC KEY-----\n"
    sig = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    token = signing_input + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()
    with pytest.raises(TokenError, match="signature"):
        verify(cfg, token)
