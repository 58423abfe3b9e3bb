"""One exchange with a route's upstreams: failover on connect failure, errors in words.

Only a failure to connect moves on to the next upstream: then the request was
never sent, so retrying is safe for any method. A timeout or a broken
exchange after sending is reported, not retried (the upstream may have acted).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import aiohttp

from services.cdn.routing import Route, end_to_end
from services.cdn.upstreams import Pool

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Fetched:
    status: int
    headers: Headers  # end-to-end fields only
    body: bytes
    request_time: float
    response_time: float
    upstream: str


class UpstreamError(Exception):
    """No usable answer from any upstream: the status to give (502/504) and why (the
    problem document's detail)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def exchange(
    session: aiohttp.ClientSession,
    route: Route,
    pool: Pool,
    *,
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes | None,
    clock: Callable[[], float],
) -> Fetched:
    """Send the request to the first upstream that accepts a connection."""
    failures: list[str] = []
    last: UpstreamError | None = None
    for member in pool.order():
        request_time = clock()
        try:
            async with session.request(
                method,
                route.target(target, member.url),
                headers=headers,
                data=body,
                allow_redirects=False,
            ) as upstream:
                payload = await upstream.read()
                return Fetched(
                    upstream.status,
                    tuple(end_to_end(upstream.headers).items()),
                    payload,
                    request_time,
                    clock(),
                    member.label,
                )
        except aiohttp.ClientConnectorCertificateError as e:
            reason = f"TLS certificate of {member.label} failed verification: {e.certificate_error}"
            last = UpstreamError(502, reason)
        except aiohttp.ClientConnectorSSLError as e:
            reason = f"TLS handshake with {member.label} failed: {e}"
            last = UpstreamError(502, reason)
        except aiohttp.ClientConnectorError as e:
            reason = f"cannot connect to {member.label}: {e.os_error.strerror or e.os_error}"
            last = UpstreamError(502, reason)
        except aiohttp.ConnectionTimeoutError:
            # No SYN-ACK in time (a host that is gone answers nothing at all): the
            # request was never sent, so trying the next upstream is safe.
            reason = f"no answer from {member.label} to the TCP handshake in time"
            last = UpstreamError(504, reason)
        except TimeoutError as e:
            raise UpstreamError(504, f"{member.label} did not answer in time") from e
        except aiohttp.ClientError as e:
            raise UpstreamError(
                502, f"{member.label} broke the exchange: {type(e).__name__}"
            ) from e
        # Passive health check: the request was never sent, try the next upstream.
        pool.mark_down(member, reason)
        failures.append(reason)
    assert last is not None
    if len(failures) > 1:
        raise UpstreamError(
            502, f"every upstream of {route.public_host} failed: " + "; ".join(failures)
        )
    raise last
