"""The programs under test and their peers, configured alike, on 127.0.0.1.

nginx (Debian nginx-light) is the peer of our edge: one worker, a disk
``proxy_cache``, the ordinary directives a site would set. Everything it
writes (pid, logs, temp files, cache) goes under one directory of ours, and
it runs in the foreground (``daemon off``) so its PID is the one we stop.

Caddy (Debian's 2.6, HTTP/3 on by default) is the HTTP/3 peer. It has no
HTTP cache, so it serves the edge's cached answer as a static file: the same
bytes, the same header fields. It is kept off the network: no admin
endpoint, no automatic HTTPS (so no ACME), no OCSP stapling, no trust-store
install, its storage in our directory.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path

from harness.procs import LOOPBACK, PYTHON, ROOT, Proc, free_port, start

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CADDY = shutil.which("caddy") or "/usr/bin/caddy"
# Fields file_server writes itself (Content-Type from .css, Last-Modified from the
# file's mtime, which is set from the copied field), hop-by-hop ones (RFC 9110 §7.6.1)
# and those that belong to one server.
CADDY_OWN = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "content-type",
    "date",
    "server",
    "alt-svc",
    "last-modified",
}


@dataclass(frozen=True)
class Tls:
    """Certificate files: the server's chain + key, and the lab root that upstreams chain to."""

    cert: Path
    key: Path
    ca: Path


def nginx_conf(
    work: Path,
    port: int,
    upstream: str,
    *,
    tls: Tls | None = None,
    upstream_name: str | None = None,
    server_name: str = "_",
) -> str:
    """nginx.conf text for a one-worker caching reverse proxy to ``upstream``."""
    for sub in ("cache", "client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    # As root, nginx drops its worker to "nobody", which cannot enter a 0700 pytest tmp dir.
    user = "user root;\n" if os.geteuid() == 0 else ""
    # http2 on the TLS listener (nginx 1.22 syntax): h2 by ALPN, HTTP/1.1 otherwise.
    listen = f"listen {LOOPBACK}:{port}{' ssl http2' if tls else ''};"
    tls_lines = ""
    if tls is not None:
        tls_lines = f"""
        ssl_certificate {tls.cert};
        ssl_certificate_key {tls.key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:SSL:10m;
        ssl_session_tickets on;"""
    upstream_lines = ""
    if upstream.startswith("https://") and tls is not None and upstream_name:
        # Verified TLS to the origin by its own name, as our edge does (SNI, Host, cert check).
        upstream_lines = f"""
            proxy_ssl_server_name on;
            proxy_ssl_name {upstream_name};
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate {tls.ca};
            proxy_set_header Host {upstream_name};
            proxy_set_header X-Forwarded-Host $host;
            proxy_set_header X-Forwarded-Proto https;"""
    return f"""# written by harness/peers.py: one worker, cache and temp files under {work}
daemon off;
master_process on;
worker_processes 1;
{user}pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log {work}/access.log;
    client_body_temp_path {work}/client_body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    proxy_cache_path {work}/cache levels=1:2 keys_zone=edge:10m max_size=256m inactive=1h
                     use_temp_path=off;
    # aiohttp does not cap requests per connection; nginx's default (1000) would add
    # reconnects and handshakes to its keep-alive figures.
    keepalive_requests 1000000;
    server {{
        {listen}
        server_name {server_name};{tls_lines}
        location / {{
            proxy_pass {upstream};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache edge;
            proxy_cache_revalidate on;
            proxy_cache_use_stale error timeout updating;
            proxy_cache_background_update on;
            proxy_cache_lock on;
            add_header X-Cache-Status $upstream_cache_status;{upstream_lines}
        }}
    }}
}}
"""


def start_nginx(
    work: Path,
    upstream: str,
    *,
    tls: Tls | None = None,
    upstream_name: str | None = None,
    server_name: str = "_",
) -> Proc:
    """nginx in the foreground with its own config in ``work``, listening on a free port."""
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = work / "nginx.conf"
    conf.write_text(
        nginx_conf(
            work, port, upstream, tls=tls, upstream_name=upstream_name, server_name=server_name
        )
    )
    # -e: the error log before the config is read (else /var/log/nginx/error.log).
    return start(
        "nginx",
        [NGINX, "-e", str(work / "error.log"), "-p", str(work), "-c", str(conf)],
        work / "stdout.log",
        port=port,
    )


@dataclass(frozen=True)
class Asset:
    """A response to serve as a static file: URL path, body and header fields."""

    path: str
    body: bytes
    fields: list[tuple[str, str]] = field(default_factory=list)


def caddyfile(work: Path, port: int, tls: Tls, asset: Asset) -> str:
    """Caddyfile text: ASSET as a static file over TLS and HTTP/1.1, 2 and 3 on PORT."""
    copied = [(n, v) for n, v in asset.fields if n.lower() not in CADDY_OWN]
    # Backticks quote a Caddyfile token as is: ETag values carry double quotes.
    header_lines = "".join(f"\n        {name} `{value}`" for name, value in copied)
    return f"""# written by harness/peers.py: static file, local certificate, nothing off this host
{{
    admin off
    auto_https off
    skip_install_trust
    ocsp_stapling off
    storage file_system {work}/data
    servers {{
        protocols h1 h2 h3
    }}
}}
https://:{port} {{
    bind {LOOPBACK}
    tls {tls.cert} {tls.key}
    log {{
        output file {work}/access.log
    }}
    # defer: set once file_server has written its own ETag, so ours wins.
    header {{
        defer{header_lines}
    }}
    root * {work}/www
    file_server
}}
""".replace("    ", "\t")  # caddy fmt's indentation, else a warning at every start


def start_caddy(work: Path, tls: Tls, asset: Asset) -> Proc:
    """Caddy serving ASSET on a free port (TCP and UDP), one OS thread of Go code."""
    work.mkdir(parents=True, exist_ok=True)
    target = work / "www" / asset.path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(asset.body)
    modified = next((v for n, v in asset.fields if n.lower() == "last-modified"), None)
    if modified:
        stamp = parsedate_to_datetime(modified).timestamp()
        os.utime(target, (stamp, stamp))
    port = free_port()
    conf = work / "Caddyfile"
    conf.write_text(caddyfile(work, port, tls, asset))
    home = str(work / "home")
    # GOMAXPROCS=1: Go code on one thread at a time, as nginx runs one worker and the
    # edge one event loop. HOME and XDG_*: nothing written outside WORK.
    env = {"GOMAXPROCS": "1", "HOME": home, "XDG_CONFIG_HOME": home, "XDG_DATA_HOME": home}
    return start(
        "caddy",
        [CADDY, "run", "--adapter", "caddyfile", "--config", str(conf)],
        work / "caddy.log",
        port=port,
        env=env,
    )


def start_edge(
    work: Path,
    routes: list[str],
    *,
    tls: Tls | None = None,
    resolve: list[str] | None = None,
    uvloop: bool = False,
) -> Proc:
    """Our edge (services.cdn), plain (test mode) or HTTPS, on a free port."""
    port = free_port()
    args = ["--host", LOOPBACK, "--port", str(port), "--health-interval", "0"]
    if tls is None:
        args.append("--plain")
    else:
        args += ["--cert", str(tls.cert), "--key", str(tls.key), "--ca", str(tls.ca)]
    for r in routes:
        args += ["--route", r]
    for r in resolve or []:
        args += ["--resolve", r]
    # The edge picks uvloop by itself when it is installed; the plain row turns
    # it off so both event loops are measured.
    argv = [PYTHON, "-m", "services.cdn", *args, *([] if uvloop else ["--no-uvloop"])]
    return start("edge", argv, work / "edge.log", port=port, cwd=ROOT)


def start_origin(work: Path, tls: Tls) -> Proc:
    """The lab's HTTPS origin (services.web) on a free port."""
    port = free_port()
    return start(
        "origin",
        [
            PYTHON,
            "-m",
            "services.web",
            "--cert",
            str(tls.cert),
            "--key",
            str(tls.key),
            "--host",
            LOOPBACK,
            "--port",
            str(port),
        ],
        work / "origin.log",
        port=port,
        cwd=ROOT,
    )


def start_api(work: Path, tls: Tls) -> Proc:
    """The lab's JSON API (services.api) on a free port, its database in ``work``."""
    port = free_port()
    return start(
        "api",
        [
            PYTHON,
            "-m",
            "services.api",
            "--cert",
            str(tls.cert),
            "--key",
            str(tls.key),
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            "--db",
            str(work / "api.sqlite3"),
        ],
        work / "api.log",
        port=port,
        cwd=ROOT,
        env={"API_JWT_SECRET": "conformance-" + "x" * 32},
    )


def lab_tls(certs: Path, name: str) -> Tls:
    """The lab certificate ``name`` (edge, origin, api) in ``certs``, made if missing."""
    from lab.pki import ensure_certs

    ensure_certs(certs, lambda _msg: None)
    return Tls(certs / f"{name}.crt", certs / f"{name}.key", certs / "ca.crt")
