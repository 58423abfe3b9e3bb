"""/api/users over TLS: paging, CRUD, ETag preconditions, roles, media types, limits."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # conftest is not importable at run time under --import-mode=importlib
    from conftest import Client


async def test_list_is_paged_with_links(client: Client) -> None:
    """per_page=2 over 5 users: page 2 links first/prev/next/last; total in body and header."""
    token = await client.login()
    for name in ("bob", "carol", "dave", "erin"):
        await client.user(token, name)
    reply = await client.call("GET", "/api/users?page=2&per_page=2", token=token)
    assert reply.status == 200
    assert reply.body["total"] == 5
    assert [u["username"] for u in reply.body["users"]] == ["carol", "dave"]
    assert reply.headers["X-Total-Count"] == "5"
    assert reply.headers["Link"] == (
        '</api/users?page=1&per_page=2>; rel="first", </api/users?page=1&per_page=2>; '
        'rel="prev", </api/users?page=3&per_page=2>; rel="next", '
        '</api/users?page=3&per_page=2>; rel="last"'
    )


@pytest.mark.parametrize("query", ["page=0", "per_page=101", "page=x", "per_page=-1"])
async def test_bad_page_parameter_is_400(client: Client, query: str) -> None:
    """Out-of-range or non-integer paging parameters: 400 naming the parameter."""
    reply = await client.call("GET", f"/api/users?{query}", token=await client.login())
    assert reply.status == 400
    assert reply.body["errors"][0]["parameter"] == query.split("=")[0]


async def test_create_returns_location_and_etag(client: Client) -> None:
    """POST: 201, Location, an ETag that GET repeats, and If-None-Match gives 304."""
    token = await client.login()
    created = await client.user(token, "bob")
    assert created.headers["Location"] == "/api/users/bob"
    assert created.body["role"] == "user"
    got = await client.call("GET", "/api/users/bob", token=token)
    assert got.headers["ETag"] == created.headers["ETag"]
    again = await client.call(
        "GET", "/api/users/bob", token=token, headers={"If-None-Match": got.headers["ETag"]}
    )
    assert again.status == 304


async def test_put_needs_if_match_and_refuses_stale(client: Client) -> None:
    """PUT without If-Match is 428; with the current ETag 200; with the old one 412."""
    token = await client.login()
    etag = (await client.user(token, "bob")).headers["ETag"]
    new = {"display_name": "Bob B.", "email": "bob@example.com"}
    assert (await client.call("PUT", "/api/users/bob", token=token, json_body=new)).status == 428
    done = await client.call(
        "PUT", "/api/users/bob", token=token, json_body=new, headers={"If-Match": etag}
    )
    assert done.status == 200
    assert done.body["display_name"] == "Bob B."
    assert done.headers["ETag"] != etag
    stale = await client.call(
        "PUT", "/api/users/bob", token=token, json_body=new, headers={"If-Match": etag}
    )
    assert stale.status == 412
    assert stale.headers["ETag"] == done.headers["ETag"]


async def test_put_is_a_replacement(client: Client) -> None:
    """PUT without email clears it; a GET body sent back unchanged is accepted."""
    token = await client.login()
    got = await client.call("GET", "/api/users/alice", token=token)
    same = await client.call(
        "PUT",
        "/api/users/alice",
        token=token,
        json_body=got.body,
        headers={"If-Match": got.headers["ETag"]},
    )
    assert same.status == 200
    assert same.body["email"] == "alice@example.com"
    cleared = await client.call(
        "PUT",
        "/api/users/alice",
        token=token,
        json_body={"display_name": "Alice"},
        headers={"If-Match": same.headers["ETag"]},
    )
    assert cleared.status == 200
    assert cleared.body["email"] is None


async def test_put_read_only_field_is_422(client: Client) -> None:
    """Changing role through PUT: 422 with a JSON pointer to the field."""
    token = await client.login()
    etag = (await client.user(token, "bob")).headers["ETag"]
    reply = await client.call(
        "PUT",
        "/api/users/bob",
        token=token,
        json_body={"display_name": "Bob", "role": "admin"},
        headers={"If-Match": etag},
    )
    assert reply.status == 422
    assert reply.body["errors"][0]["pointer"] == "#/role"


async def test_patch_merges(client: Client) -> None:
    """PATCH merge-patch+json: named members change, null removes, the rest stays."""
    token = await client.login()
    etag = (await client.call("GET", "/api/users/alice", token=token)).headers["ETag"]
    reply = await client.call(
        "PATCH",
        "/api/users/alice",
        token=token,
        data=b'{"display_name": "Alice L.", "email": null}',
        headers={"If-Match": etag, "Content-Type": "application/merge-patch+json"},
    )
    assert reply.status == 200, reply.body
    assert reply.body["display_name"] == "Alice L."
    assert reply.body["email"] is None
    assert reply.body["role"] == "admin"


async def test_patch_with_plain_json_is_415(client: Client) -> None:
    """PATCH as application/json: 415 with Accept-Patch naming merge-patch (RFC 5789 §3.1)."""
    token = await client.login()
    etag = (await client.call("GET", "/api/users/alice", token=token)).headers["ETag"]
    reply = await client.call(
        "PATCH",
        "/api/users/alice",
        token=token,
        json_body={"display_name": "x"},
        headers={"If-Match": etag},
    )
    assert reply.status == 415
    assert reply.headers["Accept-Patch"] == "application/merge-patch+json"


async def test_patch_can_change_password(client: Client) -> None:
    """A password in a PATCH takes effect at the next login."""
    token = await client.login()
    etag = (await client.user(token, "bob", "builder123")).headers["ETag"]
    bob = await client.login("bob", "builder123")
    reply = await client.call(
        "PATCH",
        "/api/users/bob",
        token=bob,
        data=b'{"password": "newpassword"}',
        headers={"If-Match": etag, "Content-Type": "application/merge-patch+json"},
    )
    assert reply.status == 200
    assert await client.login("bob", "newpassword")


async def test_delete_roles(client: Client) -> None:
    """A user may not delete another (403); may delete itself; an admin may delete anyone."""
    admin = await client.login()
    await client.user(admin, "bob", "builder123")
    await client.user(admin, "carol", "builder123")
    bob = await client.login("bob", "builder123")
    assert (await client.call("DELETE", "/api/users/carol", token=bob)).status == 403
    assert (await client.call("DELETE", "/api/users/bob", token=bob)).status == 204
    assert (await client.call("DELETE", "/api/users/carol", token=admin)).status == 204
    assert (await client.call("GET", "/api/users/carol", token=admin)).status == 404
    assert (await client.call("DELETE", "/api/users/carol", token=admin)).status == 404


async def test_delete_with_stale_if_match_is_412(client: Client) -> None:
    """DELETE honours If-Match when sent."""
    token = await client.login()
    await client.user(token, "bob")
    reply = await client.call(
        "DELETE", "/api/users/bob", token=token, headers={"If-Match": '"stale"'}
    )
    assert reply.status == 412


async def test_post_wrong_content_type_is_415(client: Client) -> None:
    """A form-encoded POST: 415 problem with Accept-Post."""
    reply = await client.call(
        "POST",
        "/api/users",
        token=await client.login(),
        data=b"username=bob",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert reply.status == 415
    assert reply.headers["Accept-Post"] == "application/json"
    assert reply.body["type"].endswith("/unsupported-media-type")


async def test_body_over_64k_is_413(client: Client) -> None:
    """A body over 64 KiB: 413 problem before the body is parsed."""
    reply = await client.call(
        "POST",
        "/api/users",
        token=await client.login(),
        data=b'{"username": "' + b"x" * 70_000 + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert reply.status == 413
    assert reply.body["status"] == 413


async def test_body_not_object_is_400(client: Client) -> None:
    """A JSON array where an object is expected: 400."""
    reply = await client.call("POST", "/api/users", token=await client.login(), json_body=[1])
    assert reply.status == 400
    assert reply.body["title"] == "Body is not a JSON object"


async def test_events_is_a_reserved_name(client: Client) -> None:
    """The username "events" would shadow the WebSocket route, so it is refused."""
    reply = await client.call(
        "POST", "/api/users", token=await client.login(), json_body={"username": "events"}
    )
    assert reply.status == 422
    assert reply.body["errors"][0]["detail"] == "reserved"


async def test_options_lists_methods(client: Client) -> None:
    """OPTIONS on an item: 204 with Allow and Accept-Patch."""
    reply = await client.call("OPTIONS", "/api/users/alice")
    assert reply.status == 204
    assert "PATCH" in reply.headers["Allow"]
    assert reply.headers["Accept-Patch"] == "application/merge-patch+json"


async def test_head_on_item(client: Client) -> None:
    """HEAD gets GET's headers (ETag) and no body."""
    reply = await client.call("HEAD", "/api/users/alice", token=await client.login())
    assert reply.status == 200
    assert reply.body is None
    assert reply.headers["ETag"]
