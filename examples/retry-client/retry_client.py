"""A small HTTP client with a retry policy: the code under test in this example.

It is plain urllib, nothing from weblab: GET a URL, and on a 5xx answer, a
timeout or a refused/reset connection try again after an exponential backoff
(0.2 s, 0.4 s, 0.8 s ..., never more than 2 s), up to ``retries`` more times. 4xx answers are
final: asking again would not change them.

Run as a script it prints one JSON object: the final status, the X-Cache
header and every attempt, so a test can count the retries.
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field


@dataclass
class Result:
    url: str
    status: int | None = None
    x_cache: str | None = None
    body_bytes: int = 0
    attempts: list[str] = field(default_factory=list)  # what each try ended with

    @property
    def retries(self) -> int:
        return max(len(self.attempts) - 1, 0)


def get(
    url: str,
    retries: int = 3,
    backoff: float = 0.2,
    max_backoff: float = 2.0,
    timeout: float = 5.0,
    cafile: str | None = None,
) -> Result:
    """GET ``url``, retrying 5xx answers and network errors with exponential backoff."""
    ctx = ssl.create_default_context(cafile=cafile)
    result = Result(url)
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(min(max_backoff, backoff * 2 ** (attempt - 1)))
        try:
            with urllib.request.urlopen(url, timeout=timeout, context=ctx) as resp:
                body = resp.read()
                result.status, result.x_cache = resp.status, resp.headers.get("X-Cache")
                result.body_bytes = len(body)
                result.attempts.append(str(resp.status))
                return result
        except urllib.error.HTTPError as e:
            result.status, result.x_cache = e.code, e.headers.get("X-Cache")
            result.attempts.append(str(e.code))
            if e.code < 500:
                return result
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            result.status = None
            result.attempts.append(f"error: {getattr(e, 'reason', e)}")
    return result


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("url")
    p.add_argument("--retries", type=int, default=3)
    p.add_argument("--timeout", type=float, default=5.0)
    p.add_argument("--cafile")
    args = p.parse_args(argv)
    r = get(args.url, retries=args.retries, timeout=args.timeout, cafile=args.cafile)
    print(json.dumps({**asdict(r), "retries": r.retries}))
    return 0 if r.status is not None and r.status < 500 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
