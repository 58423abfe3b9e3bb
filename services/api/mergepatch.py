"""JSON Merge Patch (RFC 7396): the PATCH format of the users resource."""

from __future__ import annotations

from typing import Any

MEDIA_TYPE = "application/merge-patch+json"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 §2 MergePatch(Target, Patch), without mutating either argument.

    A non-object patch replaces the target; null removes a member; objects
    merge recursively.
    """
    if not isinstance(patch, dict):
        return patch
    result: dict[str, Any] = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = merge_patch(result.get(name), value)
    return result
