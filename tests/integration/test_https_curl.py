"""The HTTPS names answered by curl and openssl from the client container."""

from __future__ import annotations

import json
import re
import uuid

from lab.compose import Lab


def curl(lab: Lab, *args: str) -> tuple[int, str, str]:
    r = lab.exec("client", "curl", "-sS", "--max-time", "15", *args, timeout=30)
    return r.returncode, r.stdout, r.stderr


def headers(text: str) -> dict[str, str]:
    """Header fields of a response head (text mode turned CRLF into LF)."""
    out = {}
    for line in text.splitlines()[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip().lower()] = v.strip()
    return out


def test_home_page_through_edge(lab: Lab) -> None:
    """www.example.com serves the HTML page through the edge, verified by the lab CA."""
    code, out, err = curl(lab, "--cacert", "/certs/ca.crt", "-D", "-", "https://www.example.com/")
    assert code == 0, err
    assert out.startswith(("HTTP/1.1 200", "HTTP/2 200"))
    h = headers(out.split("\n\n")[0])
    assert "text/html" in h["content-type"]
    assert "edge.edgecdn.net" in h["via"]
    assert "static.example.com" in out  # subresources are on the CDN host name


def test_system_trust_rejects_lab_certificate(lab: Lab) -> None:
    """Without the lab CA, curl refuses the edge's certificate (exit 60)."""
    code, _out, err = curl(lab, "https://www.example.com/")
    assert code == 60, err
    assert "certificate" in err.lower()


def test_static_asset_miss_then_hit(lab: Lab) -> None:
    """The edge caches a static asset: first request MISS, the next HIT with an Age."""
    url = f"https://static.example.com/css/site.css?v={uuid.uuid4().hex}"
    _c, first, _e = curl(lab, "--cacert", "/certs/ca.crt", "-D", "-", "-o", "/dev/null", url)
    _c, second, _e = curl(lab, "--cacert", "/certs/ca.crt", "-D", "-", "-o", "/dev/null", url)
    assert headers(first)["x-cache"] == "MISS"
    h2 = headers(second)
    assert h2["x-cache"] == "HIT"
    assert "age" in h2


def test_tls_versions(lab: Lab) -> None:
    """The edge speaks TLS 1.2 and TLS 1.3 and refuses TLS 1.1."""
    for flag, version in (("--tlsv1.2", "1.2"), ("--tlsv1.3", "1.3")):
        code, _out, err = curl(
            lab,
            "--cacert",
            "/certs/ca.crt",
            flag,
            "--tls-max",
            version,
            "-v",
            "-o",
            "/dev/null",
            "https://www.example.com/",
        )
        assert code == 0, err
        assert f"TLSv{version}" in err
    code, _out, _err = curl(
        lab,
        "--cacert",
        "/certs/ca.crt",
        "--tlsv1.1",
        "--tls-max",
        "1.1",
        "-o",
        "/dev/null",
        "https://www.example.com/",
    )
    assert code != 0


def test_openssl_verifies_chain(lab: Lab) -> None:
    """openssl s_client sees leaf + intermediate and verifies them against the root."""
    r = lab.exec(
        "client",
        "sh",
        "-c",
        "openssl s_client -connect www.example.com:443 -servername www.example.com"
        " -CAfile /certs/ca.crt -showcerts </dev/null",
        timeout=30,
    )
    assert "Verify return code: 0 (ok)" in r.stdout, r.stdout + r.stderr
    assert len(re.findall(r"-----BEGIN CERTIFICATE-----", r.stdout)) == 2


def test_api_login_and_protected_calls(lab: Lab) -> None:
    """Login returns a JWT; protected calls need it (401 with WWW-Authenticate without)."""
    code, out, err = curl(
        lab,
        "--cacert",
        "/certs/ca.crt",
        "-H",
        "Content-Type: application/json",
        "-d",
        '{"username": "alice", "password": "wonderland"}',
        "https://api.example.com/api/login",
    )
    assert code == 0, err
    token = json.loads(out)["access_token"]
    assert token.count(".") == 2
    _c, out, _e = curl(
        lab, "--cacert", "/certs/ca.crt", "-D", "-", "https://api.example.com/api/me"
    )
    assert " 401" in out.splitlines()[0]
    assert "bearer" in headers(out.split("\n\n")[0])["www-authenticate"].lower()
    _c, out, _e = curl(
        lab,
        "--cacert",
        "/certs/ca.crt",
        "-H",
        f"Authorization: Bearer {token}",
        "https://api.example.com/api/me",
    )
    assert json.loads(out)["username"] == "alice"
    name = f"user-{uuid.uuid4().hex[:8]}"
    _c, out, _e = curl(
        lab,
        "--cacert",
        "/certs/ca.crt",
        "-D",
        "-",
        "-H",
        f"Authorization: Bearer {token}",
        "-H",
        "Content-Type: application/json",
        "-d",
        json.dumps({"username": name, "email": f"{name}@example.com"}),
        "https://api.example.com/api/users",
    )
    assert " 201" in out.splitlines()[0], out
    assert "location" in headers(out.split("\n\n")[0])


def test_api_bad_json_is_400(lab: Lab) -> None:
    """An invalid JSON body is a clear 400 problem document, not a crash."""
    _c, out, _e = curl(
        lab,
        "--cacert",
        "/certs/ca.crt",
        "-D",
        "-",
        "-H",
        "Content-Type: application/json",
        "-d",
        "{not json",
        "https://api.example.com/api/login",
    )
    head, _sep, body = out.partition("\n\n")
    assert " 400" in head.splitlines()[0]
    assert "application/problem+json" in headers(head)["content-type"]
    assert json.loads(body)["status"] == 400


def test_compression_and_validators(lab: Lab) -> None:
    """The page comes compressed when the client accepts it, with an ETag; a revalidation
    with that ETag gets 304."""
    _c, out, _e = curl(
        lab,
        "--cacert",
        "/certs/ca.crt",
        "-D",
        "-",
        "-o",
        "/dev/null",
        "-H",
        "Accept-Encoding: br, gzip",
        "https://www.example.com/",
    )
    h = headers(out)
    assert h.get("content-encoding") in ("br", "gzip")
    assert "accept-encoding" in h.get("vary", "").lower()
    etag = h["etag"]
    _c, out, _e = curl(
        lab,
        "--cacert",
        "/certs/ca.crt",
        "-D",
        "-",
        "-o",
        "/dev/null",
        "-H",
        "Accept-Encoding: br, gzip",
        "-H",
        f"If-None-Match: {etag}",
        "https://www.example.com/",
    )
    assert " 304" in out.splitlines()[0]


def test_session_cookie_flags(lab: Lab) -> None:
    """The account page sets a session cookie that is Secure, HttpOnly and SameSite."""
    _c, out, _e = curl(
        lab,
        "--cacert",
        "/certs/ca.crt",
        "-D",
        "-",
        "-o",
        "/dev/null",
        "https://www.example.com/account",
    )
    cookie = headers(out)["set-cookie"].lower()
    assert "secure" in cookie
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "no-store" in headers(out)["cache-control"]


def test_idempotency_key_creates_one_row(lab: Lab) -> None:
    """A POST retried with the same Idempotency-Key gets the first answer; one user exists."""
    _c, out, _e = curl(
        lab,
        "--cacert",
        "/certs/ca.crt",
        "-H",
        "Content-Type: application/json",
        "-d",
        '{"username": "alice", "password": "wonderland"}',
        "https://api.example.com/api/login",
    )
    token = json.loads(out)["access_token"]
    name = f"idem-{uuid.uuid4().hex[:8]}"
    key = str(uuid.uuid4())
    args = [
        "--cacert",
        "/certs/ca.crt",
        "-D",
        "-",
        "-H",
        f"Authorization: Bearer {token}",
        "-H",
        "Content-Type: application/json",
        "-H",
        f"Idempotency-Key: {key}",
        "-d",
        json.dumps({"username": name, "email": f"{name}@example.com"}),
        "https://api.example.com/api/users",
    ]

    def total() -> int:
        _c, out, _e = curl(
            lab,
            "--cacert",
            "/certs/ca.crt",
            "-H",
            f"Authorization: Bearer {token}",
            "https://api.example.com/api/users?per_page=1",
        )
        return int(json.loads(out)["total"])

    before = total()
    _c, first, _e = curl(lab, *args)
    _c, second, _e = curl(lab, *args)
    assert total() == before + 1
    assert " 201" in first.splitlines()[0]
    assert " 201" in second.splitlines()[0]
    h1, h2 = headers(first.split("\n\n")[0]), headers(second.split("\n\n")[0])
    assert h1["location"] == h2["location"]
    assert h2.get("idempotent-replayed") == "true"
    _c, out, _e = curl(
        lab,
        "--cacert",
        "/certs/ca.crt",
        "-H",
        f"Authorization: Bearer {token}",
        f"https://api.example.com/api/users/{name}",
    )
    assert json.loads(out)["username"] == name
