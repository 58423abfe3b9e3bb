"""Opening the browser's QUIC connections: one handshake for transport and TLS together.

Over TCP a connection costs the three-way handshake, then the TLS one. QUIC
(RFC 9000) runs over UDP and carries TLS 1.3's handshake messages in its own
CRYPTO frames (RFC 9001 §4), so the client's first datagram (an Initial
packet, padded to 1200 bytes so an attacker cannot amplify with it, RFC 9000
§14.1) already holds the ClientHello: one round trip sets up both. That is
why a QUIC connection's fetch records ``connect_ms`` 0 and the whole
handshake as ``tls_ms``.

The protocol is aioquic's sans-IO ``QuicConnection``: it is fed the datagrams
read and the time, and says what to send and when its next timer (loss
detection, ACK delay, idle timeout) fires. ``QuicLink`` is the thin blocking
driver around it: a connected UDP socket whose receive timeout is that timer.

The certificate is checked against the lab CA only (never certifi's bundle,
which aioquic loads when given no CA), for the host's name, as over TCP. QUIC's
TLS secrets go to the same key log as TCP's, so the capture decrypts both.
A session ticket the server sends is kept per host and offered, once, on the
next connection (RFC 8446 §2.2; §C.4: a ticket is not reused). The caller
queues its first requests before the handshake is driven (``open``'s EARLY
hook): with a ticket that allows early data they go out at once as 0-RTT
(RFC 9001 §4.6), otherwise aioquic holds them until the 1-RTT keys exist and
sends them in the same flight as the client's Finished, so nothing the client
does after the handshake (logging, building requests) sits between the two.
"""

from __future__ import annotations

import re
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable
from typing import TextIO

from aioquic.h3.connection import H3_ALPN, ErrorCode
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.events import ConnectionTerminated, HandshakeCompleted, QuicEvent
from aioquic.quic.packet import QuicErrorCode
from aioquic.tls import AlertDescription, CipherSuite, Epoch, SessionTicket

from services.client.exchange import Job, elapsed_ms
from services.client.timeline import DnsResult

RECV_SIZE = 65536
BATCH = 64  # datagrams read in one go before answering: fewer ACK-only packets
CERT_ALERTS = {
    AlertDescription.bad_certificate,
    AlertDescription.unsupported_certificate,
    AlertDescription.certificate_revoked,
    AlertDescription.certificate_expired,
    AlertDescription.certificate_unknown,
    AlertDescription.unknown_ca,
}
Say = Callable[..., None]
Route = Callable[[tuple[str, int]], tuple[str, int]]  # where datagrams for an address go
Early = Callable[["QuicLink"], None]  # queues requests on a link before its handshake


class QuicHandshakeError(RuntimeError):
    """The QUIC connection was not set up; KIND says how (timeout, refused, tls, closed, alpn)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def code_name(code: int) -> str:
    """An error code as RFC 9114 §8.1 or RFC 9000 §20 names it, with its number."""
    for names in (ErrorCode, QuicErrorCode):
        try:
            return f"{names(code).name} (0x{code:x})"
        except ValueError:
            pass
    if QuicErrorCode.CRYPTO_ERROR <= code <= QuicErrorCode.CRYPTO_ERROR + 0xFF:
        alert = code - QuicErrorCode.CRYPTO_ERROR  # a TLS alert as a QUIC error, RFC 9001 §4.8
        try:
            return f"CRYPTO_ERROR {AlertDescription(alert).name} (0x{code:x})"
        except ValueError:
            return f"CRYPTO_ERROR alert {alert} (0x{code:x})"
    return f"0x{code:x}"


class QuicTls:
    """A QUIC connection's TLS as ssl.SSLSocket would tell it (exchange.Secured)."""

    def __init__(self, quic: QuicConnection, done: HandshakeCompleted) -> None:
        schedule = quic.tls.key_schedule
        suite = schedule.cipher_suite if schedule is not None else None
        # OpenSSL's names for the TLS 1.3 suites, as the TCP fetches record them.
        self._cipher = f"TLS_{suite.name}" if isinstance(suite, CipherSuite) else ""
        self._bits = 128 if suite == CipherSuite.AES_128_GCM_SHA256 else 256
        self._alpn = done.alpn_protocol
        self._resumed = done.session_resumed

    @property
    def session_reused(self) -> bool:
        return self._resumed

    def version(self) -> str:
        return "TLSv1.3"  # the only version QUIC carries (RFC 9001 §4.2)

    def cipher(self) -> tuple[str, str, int] | None:
        return (self._cipher, "TLSv1.3", self._bits) if self._cipher else None

    def selected_alpn_protocol(self) -> str | None:
        return self._alpn


class QuicLink:
    """One QUIC connection over a connected UDP socket (an exchange.Link once set up)."""

    protocol = "3"

    def __init__(
        self,
        sock: socket.socket,
        quic: QuicConnection,
        addr: tuple[str, int],
        host: str,
        keylog: TextIO | None,
    ) -> None:
        self.sock, self.quic, self.addr, self.host = sock, quic, addr, host
        self.address = addr[0]
        self.number = 0
        self.requests = 0
        self.received = 0  # datagrams read: tells "no answer" from "an answer, then silence"
        self.pending: deque[QuicEvent] = deque()
        self.early_data = False  # 0-RTT keys exist: stream data sent now is early data
        self.early_data_accepted = False  # the server took it (RFC 9001 §4.6.2)
        self.established = 0.0  # time.perf_counter() when the handshake completed
        self._tls: QuicTls | None = None
        self._keylog = keylog

    @property
    def tls(self) -> QuicTls:
        if self._tls is None:
            raise RuntimeError("the QUIC handshake has not completed")
        return self._tls

    def transmit(self) -> None:
        """Send whatever the connection has to send now."""
        for data, _addr in self.quic.datagrams_to_send(now=time.monotonic()):
            self.sock.send(data)

    def step(self, deadline: float) -> None:
        """Wait for datagrams or the connection's timer (no later than DEADLINE), then answer.

        The events that result go on ``pending``. OSError: the socket failed
        (ConnectionRefusedError: an ICMP port unreachable came back).
        """
        timer = self.quic.get_timer()
        wake = deadline if timer is None else min(deadline, timer)
        self.sock.settimeout(max(wake - time.monotonic(), 0.0005))
        try:
            data = self.sock.recv(RECV_SIZE)
        except TimeoutError:
            now = time.monotonic()
            if timer is not None and now >= timer:
                self.quic.handle_timer(now)
        else:
            self._receive(data)
            self.sock.setblocking(False)
            for _ in range(BATCH):
                try:
                    data = self.sock.recv(RECV_SIZE)
                except BlockingIOError:
                    break
                self._receive(data)
        self.transmit()
        while (event := self.quic.next_event()) is not None:
            self.pending.append(event)

    def _receive(self, data: bytes) -> None:
        self.received += 1
        self.quic.receive_datagram(data, self.addr, now=time.monotonic())

    def closing(self) -> ConnectionTerminated | None:
        """Why the connection is closing, as soon as either side decided it."""
        # aioquic queues its ConnectionTerminated only at the end of the closing
        # period (three PTOs, RFC 9000 §10.2); the reason is known from the
        # moment either end closed, and a client giving up need not wait.
        event: ConnectionTerminated | None = self.quic._close_event
        return event

    def close(self, error_code: int = QuicErrorCode.NO_ERROR) -> None:
        """CONNECTION_CLOSE with ERROR_CODE (RFC 9000 §10.2), then drop the socket."""
        try:
            self.quic.close(error_code=error_code)
            self.transmit()
        except OSError:
            pass  # closing anyway: the server's idle timeout ends its side
        finally:
            self.sock.close()
            if self._keylog is not None:
                self._keylog.close()

    def handshake(self, timeout: float, early: Early | None = None) -> HandshakeCompleted:
        """Send the Initial and drive the handshake for up to TIMEOUT s, or QuicHandshakeError.

        EARLY, called before the Initial leaves, may queue stream data: 0-RTT
        when ``early_data``, else sent by aioquic with the Finished.
        """
        deadline = time.monotonic() + timeout
        self.quic.connect(self.addr, now=time.monotonic())
        # aioquic derives the 0-RTT keys in connect() when the ticket allows early
        # data (RFC 8446 §4.2.10); it has no public way to tell.
        self.early_data = self.quic._cryptos[Epoch.ZERO_RTT].send.is_valid()
        if early is not None:
            early(self)
        try:
            self.transmit()
        except OSError as e:
            raise QuicHandshakeError("closed", f"QUIC handshake with {self.host}: {e}") from e
        while True:
            for i, event in enumerate(self.pending):
                if isinstance(event, HandshakeCompleted):
                    del self.pending[i]  # what follows it (the server's SETTINGS) stays
                    self.established = time.perf_counter()
                    self.early_data_accepted = self.early_data and event.early_data_accepted
                    self._tls = QuicTls(self.quic, event)
                    return event
            closing = self.closing()
            if closing is not None:
                raise self._refused(closing)
            if time.monotonic() >= deadline:
                raise self._timed_out(timeout)
            try:
                self.step(deadline)
            except ConnectionRefusedError as e:
                where = f"{self.addr[0]} UDP port {self.addr[1]}"
                raise QuicHandshakeError(
                    "refused", f"no QUIC server at {where} (ICMP port unreachable)"
                ) from e
            except OSError as e:
                raise QuicHandshakeError("closed", f"QUIC handshake with {self.host}: {e}") from e

    def _timed_out(self, timeout: float) -> QuicHandshakeError:
        where = f"{self.host} ({self.addr[0]} UDP port {self.addr[1]})"
        if not self.received:
            why = "no answer to the Initial packets: no QUIC server there, or UDP filtered"
        else:
            why = f"{self.received} datagrams came back but the handshake did not finish"
        return QuicHandshakeError(
            "timeout", f"QUIC handshake with {where} timed out after {timeout:g} s ({why})"
        )

    def _refused(self, closing: ConnectionTerminated) -> QuicHandshakeError:
        code, reason = closing.error_code, closing.reason_phrase
        alert = code - QuicErrorCode.CRYPTO_ERROR
        if alert in CERT_ALERTS:
            # service_identity's patterns print as DNSPattern(pattern=b'name'): say 'name'.
            reason = re.sub(r"DNSPattern\(pattern=b('[^']*')\)", r"\1", reason)
            return QuicHandshakeError(
                "tls", f"TLS certificate verification failed for {self.host} over QUIC: {reason}"
            )
        if alert == AlertDescription.no_application_protocol:
            return QuicHandshakeError(
                "alpn", f"{self.host} refused ALPN h3 over QUIC (no_application_protocol)"
            )
        detail = f": {reason}" if reason else ""
        return QuicHandshakeError(
            "closed", f"QUIC handshake with {self.host} closed with {code_name(code)}{detail}"
        )


class QuicConnector:
    """The browser's QUIC settings and session tickets per host.

    NUMBER hands out the next connection number of the run (shared with TCP's).
    ROUTE maps the address and port to send to (tests: an in-process server's).
    """

    def __init__(
        self,
        ca_file: str,
        keylog: str | None,
        say: Say,
        number: Callable[[], int],
        route: Route = lambda addr: addr,
    ) -> None:
        self.ca_file, self.keylog, self.say, self.number = ca_file, keylog, say, number
        self.route = route
        self.tickets: dict[str, SessionTicket] = {}

    def open(
        self, job: Job, res: DnsResult, port: int, timeout: float, early: Early | None = None
    ) -> QuicLink:
        """A QUIC connection for JOB to RES's address on UDP PORT; its costs go on JOB's fetch.

        EARLY queues the first requests before the handshake (QuicLink.handshake).
        """
        f, host = job.fetch, job.fetch.host
        f.dns_ms, f.address = res.ms, res.addresses[0]
        keylog = open(self.keylog, "a") if self.keylog else None  # noqa: SIM115 (the link closes it)
        config = QuicConfiguration(
            is_client=True,
            alpn_protocols=H3_ALPN,
            server_name=host,  # SNI and the name the certificate must carry (RFC 9114 §3.3)
            verify_mode=ssl.CERT_REQUIRED,
            cafile=self.ca_file,  # the lab CA, nothing else
            secrets_log_file=keylog,
            session_ticket=self.tickets.pop(host, None),  # one use (RFC 8446 §C.4)
            idle_timeout=30.0,
        )
        quic = QuicConnection(configuration=config, session_ticket_handler=self._keep(host))
        family = socket.AF_INET6 if ":" in f.address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        addr = self.route((f.address, port))
        link = QuicLink(sock, quic, addr, host, keylog)
        offered = config.session_ticket is not None
        t0 = time.perf_counter()
        try:
            sock.connect(addr)  # UDP: no packet, only fixes the peer (and lets ICMP errors in)
            done = link.handshake(timeout, early)
        except (OSError, QuicHandshakeError):
            f.tls_ms = elapsed_ms(t0)
            link.close()
            raise
        f.connect_ms, f.tls_ms = 0.0, elapsed_ms(t0)
        link.number = self.number()
        if done.alpn_protocol not in H3_ALPN:
            link.close()
            raise QuicHandshakeError(
                "alpn", f"{host} did not negotiate h3 (ALPN {done.alpn_protocol or 'nothing'})"
            )
        tls = link.tls
        self.say(
            "quic.established",
            host=host,
            address=f.address,
            port=port,
            version=tls.version(),
            cipher=(tls.cipher() or ("",))[0],
            alpn=done.alpn_protocol,
            http_version="3",
            connection=link.number,
            ms=f.tls_ms,
            resumed=done.session_resumed,
            offered_session=offered,
            early_data=link.early_data,  # requests were sent as 0-RTT
            early_data_accepted=link.early_data_accepted,
        )
        return link

    def _keep(self, host: str) -> Callable[[SessionTicket], None]:
        def keep(ticket: SessionTicket) -> None:
            self.tickets[host] = ticket

        return keep
