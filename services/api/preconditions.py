"""Entity tags for users and the If-Match check on writes (RFC 9110 §8.8.3, §13.1.1).

Writes to an existing user (PUT, PATCH) must carry If-Match: without it the
API answers 428 Precondition Required (RFC 6585 §3), because a blind overwrite
is how lost updates happen. DELETE honours If-Match when sent but does not
require it: deleting a resource that changed meanwhile loses nothing a retry
would restore.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def etag_of(representation: Mapping[str, Any]) -> str:
    """A strong validator: a hash of the JSON representation the client receives."""
    canonical = json.dumps(representation, sort_keys=True, separators=(",", ":"))
    return '"' + hashlib.sha256(canonical.encode()).hexdigest()[:20] + '"'


def if_match_ok(header: str, current: str | None) -> bool:
    """If-Match uses the strong comparison (RFC 9110 §13.1.1): a weak tag never matches."""
    if current is None:
        return False  # nothing to match, not even "*"
    if header.strip() == "*":
        return True
    return any(tag.strip() == current for tag in header.split(","))
