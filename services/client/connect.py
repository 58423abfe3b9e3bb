"""Opening the browser's connections: TCP, then TLS with ALPN choosing the HTTP version.

ALPN (RFC 7301) lets the ClientHello list the protocols the client can speak
over the connection and the server pick one in its reply, so the choice costs
no extra round trip. HTTP/2 over TLS is "h2" (RFC 9113 §3.2); HTTP/1.1 is
"http/1.1". HTTP/1.0 has no token: a 1.0 client offers http/1.1 (or nothing)
and then says HTTP/1.0 in its request line.

A server that picks none of the offered protocols either says nothing (the
handshake completes without ALPN: Python's and most servers' way) or aborts
with a no_application_protocol alert (RFC 7301 §3.2); both are reported.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable

from services.client.exchange import Conn, Job, elapsed_ms
from services.client.timeline import DnsResult

# What the ClientHello offers for each --http choice.
ALPN_OFFER = {"auto": ["h2", "http/1.1"], "2": ["h2"], "1.1": ["http/1.1"], "1.0": ["http/1.1"]}

Dial = Callable[[tuple[str, int], float], socket.socket]
Say = Callable[..., None]


def negotiated(choice: str, alpn: str | None) -> str:
    """The HTTP version to speak under --http CHOICE once ALPN selected ALPN."""
    if choice in ("1.0", "1.1"):
        return choice
    if alpn == "h2":
        return "2"
    if choice == "2":
        raise RuntimeError(f"server did not negotiate h2 (ALPN selected {alpn or 'nothing'})")
    return "1.1"  # auto: http/1.1 chosen, or a server that ignores ALPN


class Connector:
    """The browser's TLS settings, its saved sessions per host, and a count of connections.

    The context trusts CA_FILE only and offers what --http CHOICE asks for.
    SAY reports the TCP and TLS events; every connection gets the next number.
    """

    def __init__(
        self,
        choice: str,
        ca_file: str,
        keylog: str | None,
        dial: Dial,
        timeout: float,
        say: Say,
    ) -> None:
        if choice not in ALPN_OFFER:
            raise ValueError(f"http must be one of {', '.join(ALPN_OFFER)}, not {choice!r}")
        self.choice = choice
        self.ctx = ssl.create_default_context(cafile=ca_file)  # the lab CA, nothing else
        self.ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # also HTTP/2's floor (RFC 9113 §9.2)
        self.ctx.set_alpn_protocols(ALPN_OFFER[choice])
        if keylog:
            self.ctx.keylog_filename = keylog
        self.dial = dial
        self.timeout = timeout
        self.say = say
        # Kept across visits: the last TLS session (ticket) per host.
        self.sessions: dict[str, ssl.SSLSession] = {}
        self.opened = 0
        self._lock = threading.Lock()

    def remember(self, host: str, sock: ssl.SSLSocket) -> None:
        """Keep SOCK's session to resume on the next connection to HOST."""
        # In TLS 1.3 the ticket comes after the handshake (NewSessionTicket, RFC
        # 8446 §4.6.1): call this once a response has been read.
        if sock.session is not None:
            self.sessions[host] = sock.session

    def number(self) -> int:
        """The next connection's number in the run (QUIC's connections count too)."""
        with self._lock:
            self.opened += 1
            return self.opened

    def open(self, job: Job, res: DnsResult) -> Conn:
        """A new connection for JOB to RES's address; its costs go on JOB's fetch."""
        f, host = job.fetch, job.fetch.host
        f.dns_ms, f.address = res.ms, res.addresses[0]
        t0 = time.perf_counter()
        raw = self.dial((f.address, job.port), min(10.0, self.timeout))
        f.connect_ms = elapsed_ms(t0)
        try:
            f.local_port = int(raw.getsockname()[1])
        except (OSError, IndexError, TypeError):
            f.local_port = 0  # not an IP socket (a test's socketpair): nothing to match
        self.say("tcp.connected", host=host, address=f.address, port=job.port, ms=f.connect_ms)
        t0 = time.perf_counter()
        saved = self.sessions.get(host)
        try:
            # With a saved session the ClientHello offers its ticket as a pre-shared
            # key; the server may accept it and skip the certificate (RFC 8446 §2.2).
            tls = self.ctx.wrap_socket(raw, server_hostname=host, session=saved)
        except ssl.SSLCertVerificationError as e:
            raw.close()
            raise RuntimeError(
                f"TLS certificate verification failed for {host}: {e.verify_message}"
            ) from e
        except ssl.SSLError as e:
            raw.close()
            if "NO_APPLICATION_PROTOCOL" in str(e.reason):
                offer = ", ".join(ALPN_OFFER[self.choice])
                raise RuntimeError(f"server refused every protocol offered (ALPN {offer})") from e
            raise
        except OSError:
            raw.close()  # a failed handshake must not leak the socket
            raise
        f.tls_ms = elapsed_ms(t0)
        tls.settimeout(self.timeout)
        number = self.number()
        alpn = tls.selected_alpn_protocol()
        cipher = tls.cipher()
        refused: RuntimeError | None = None
        try:
            protocol = negotiated(self.choice, alpn)
        except RuntimeError as e:
            protocol, refused = "", e  # "": the server did not pick what --http requires
        self.say(
            "tls.established",
            host=host,
            version=tls.version(),
            cipher=cipher[0] if cipher else "",
            alpn=alpn,
            http_version=protocol,
            connection=number,
            ms=f.tls_ms,
            resumed=bool(tls.session_reused),
            offered_session=saved is not None,
        )
        if refused is not None:
            tls.close()
            raise refused
        return Conn(tls, number, host, f.address, protocol)
