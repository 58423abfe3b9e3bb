"""A tiny shop: HTTPS on $WEBLAB_PORT with the certificate the lab mounts for it.

The lab gives every service of weblab.yaml its name (WEBLAB_NAME), port
(WEBLAB_PORT), certificate and key (WEBLAB_CERT, WEBLAB_KEY: /certs/user/<name>.crt
and .key, issued by the lab CA) and the lab resolver in /etc/resolv.conf.
Pages are cacheable for a minute, so the edge answers the second request (X-Cache: HIT).
"""

from __future__ import annotations

import json
import os
import ssl
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Shop(BaseHTTPRequestHandler):
    server_version = "shop/1"
    protocol_version = "HTTP/1.1"  # kept alive: the edge pools its upstream connections

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        name = os.environ.get("WEBLAB_NAME", "shop")
        if self.path == "/healthz":
            body, kind = b"ok\n", "text/plain"
        else:
            doc = {"shop": name, "path": self.path, "via": self.headers.get("Via")}
            body, kind = json.dumps(doc).encode() + b"\n", "application/json"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "public, max-age=60")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        print(json.dumps({"service": "shop", "event": "request", "line": format % args}))


def main() -> None:
    port = int(os.environ.get("WEBLAB_PORT", "8443"))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.environ["WEBLAB_CERT"], os.environ["WEBLAB_KEY"])
    if os.environ.get("SSLKEYLOGFILE"):
        ctx.keylog_filename = os.environ["SSLKEYLOGFILE"]  # the lab's capture decrypts it
    httpd = ThreadingHTTPServer(("0.0.0.0", port), Shop)
    # The handshake in each connection's own thread, not in accept(): a slow or bare TCP
    # client (the lab's readiness probe) then holds up nobody.
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
    print(json.dumps({"service": "shop", "event": "started", "port": port}), flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
