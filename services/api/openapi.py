"""The API described in OpenAPI 3.1 (GET /api/openapi.json), for people and for fuzzers.

Written by hand next to the handlers it describes; tests check that every
route is here and every response a test sees matches a documented status.
"""

from __future__ import annotations

from typing import Any

from services.api.idempotency import MAX_KEY_LENGTH
from services.api.mergepatch import MEDIA_TYPE as MERGE_PATCH
from services.api.paging import MAX_PER_PAGE
from services.api.problems import CONTENT_TYPE as PROBLEM

JSON = "application/json"
USERNAME = {"type": "string", "pattern": "^[a-z][a-z0-9_-]{2,31}$"}
EMAIL = {"type": "string", "maxLength": 254, "pattern": r"^[^@\s]+@[^@\s]+\.[^@\s]+$"}
PASSWORD = {"type": "string", "minLength": 8, "maxLength": 128}
DISPLAY = {"type": "string", "minLength": 1, "maxLength": 64}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _problem(description: str, **headers: str) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM: {"schema": _ref("Problem")}},
    }
    if headers:
        doc["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in headers.items()
        }
    return doc


def _json(description: str, schema: dict[str, Any], **headers: str) -> dict[str, Any]:
    doc = _problem(description, **headers)
    doc["content"] = {JSON: {"schema": schema}}
    return doc


def _body(schema: dict[str, Any], media: str = JSON) -> dict[str, Any]:
    return {"required": True, "content": {media: {"schema": schema}}}


AUTH_ERRORS = {
    "401": _problem(
        "missing, invalid or expired bearer token",
        **{"WWW-Authenticate": "Bearer challenge (RFC 6750 §3)"},
    ),
    "429": _problem("over the per-token rate limit", **{"Retry-After": "seconds to wait"}),
    "503": _problem("injected fault (POST /__fault)", **{"Retry-After": "seconds to wait"}),
}
BODY_ERRORS = {
    "400": _problem("the body is not JSON, or not a JSON object"),
    "413": _problem("the body is larger than 64 KiB"),
    "415": _problem("wrong Content-Type"),
    "422": _problem("a field is invalid; `errors` lists each with a JSON pointer"),
}
ITEM = [{"name": "username", "in": "path", "required": True, "schema": USERNAME}]
IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "schema": {"type": "string"},
    "description": "the ETag of the user as last read",
}
ETAG = {"ETag": "strong validator of the returned user"}


def _token_ok() -> dict[str, Any]:
    return _json("tokens issued (never cached)", _ref("Tokens"))


PATHS: dict[str, Any] = {
    "/healthz": {
        "get": {
            "operationId": "health",
            "security": [],
            "responses": {"200": _json("the database answers", {"type": "object"})},
        }
    },
    "/api": {
        "get": {
            "operationId": "info",
            "security": [],
            "responses": {"200": _json("name of the API; cacheable 30 s", {"type": "object"})},
        }
    },
    "/api/login": {
        "post": {
            "operationId": "login",
            "security": [],
            "requestBody": _body(
                {
                    "type": "object",
                    "required": ["username", "password"],
                    "properties": {
                        "username": {"type": "string"},
                        "password": {"type": "string"},
                        "expires_in": {"type": "integer", "minimum": 1, "maximum": 900},
                    },
                }
            ),
            "responses": {
                "200": _token_ok(),
                **BODY_ERRORS,
                "401": _problem("wrong username or password"),
                "503": AUTH_ERRORS["503"],
            },
        }
    },
    "/api/token/refresh": {
        "post": {
            "operationId": "refreshToken",
            "security": [],
            "description": "Trade a refresh token (single use, rotated) for new tokens.",
            "requestBody": _body(
                {
                    "type": "object",
                    "required": ["refresh_token"],
                    "additionalProperties": False,
                    "properties": {"refresh_token": {"type": "string"}},
                }
            ),
            "responses": {
                "200": _token_ok(),
                **BODY_ERRORS,
                "400": _problem(
                    "not JSON, or the refresh token is unknown, used or expired (invalid-grant)"
                ),
                "503": AUTH_ERRORS["503"],
            },
        }
    },
    "/api/me": {
        "get": {
            "operationId": "me",
            "responses": {"200": _json("the caller", _ref("User")), **AUTH_ERRORS},
        }
    },
    "/api/users": {
        "get": {
            "operationId": "listUsers",
            "parameters": [
                {
                    "name": "page",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
                },
                {
                    "name": "per_page",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
                },
            ],
            "responses": {
                "200": _json(
                    "one page of users",
                    _ref("UserPage"),
                    Link="first, prev, next, last (RFC 8288)",
                    **{"X-Total-Count": "number of users"},
                ),
                "400": _problem("page or per_page out of range"),
                **AUTH_ERRORS,
            },
        },
        "post": {
            "operationId": "createUser",
            "parameters": [
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
                    "description": "retry-safe creation "
                    "(draft-ietf-httpapi-idempotency-key-header)",
                }
            ],
            "requestBody": _body(_ref("NewUser")),
            "responses": {
                "201": _json("created", _ref("User"), Location="URL of the new user", **ETAG),
                **AUTH_ERRORS,
                **BODY_ERRORS,
                "409": _problem(
                    "username taken, or the same Idempotency-Key is still being processed"
                ),
                "422": _problem("invalid field, or Idempotency-Key reused with another body"),
            },
        },
    },
    "/api/users/{username}": {
        "parameters": ITEM,
        "get": {
            "operationId": "getUser",
            "responses": {
                "200": _json("the user", _ref("User"), **ETAG),
                "304": {"description": "If-None-Match matched"},
                "404": _problem("no such user"),
                **AUTH_ERRORS,
            },
        },
        "put": {
            "operationId": "replaceUser",
            "parameters": [{**IF_MATCH, "required": True}],
            "requestBody": _body(_ref("Replacement")),
            "responses": {
                "200": _json("replaced", _ref("User"), **ETAG),
                **AUTH_ERRORS,
                **BODY_ERRORS,
                "403": _problem("neither this user nor an admin"),
                "404": _problem("no such user"),
                "412": _problem("If-Match does not match: changed meanwhile"),
                "428": _problem("If-Match missing"),
            },
        },
        "patch": {
            "operationId": "patchUser",
            "parameters": [{**IF_MATCH, "required": True}],
            "requestBody": _body(
                {
                    "type": "object",
                    "properties": {
                        "display_name": DISPLAY,
                        "email": {"oneOf": [EMAIL, {"type": "null"}]},
                        "password": PASSWORD,
                    },
                },
                MERGE_PATCH,
            ),
            "responses": {
                "200": _json("changed (JSON Merge Patch, RFC 7396)", _ref("User"), **ETAG),
                **AUTH_ERRORS,
                **BODY_ERRORS,
                "403": _problem("neither this user nor an admin"),
                "404": _problem("no such user"),
                "412": _problem("If-Match does not match: changed meanwhile"),
                "428": _problem("If-Match missing"),
            },
        },
        "delete": {
            "operationId": "deleteUser",
            "parameters": [IF_MATCH],
            "responses": {
                "204": {"description": "deleted"},
                **AUTH_ERRORS,
                "403": _problem("neither this user nor an admin"),
                "404": _problem("no such user"),
                "412": _problem("If-Match does not match"),
            },
        },
    },
    "/api/users/events": {
        "get": {
            "operationId": "userEvents",
            "description": "WebSocket (RFC 6455): one JSON message per user change. "
            "The token may come as ?access_token= (RFC 6750 §2.3).",
            "parameters": [{"name": "access_token", "in": "query", "schema": {"type": "string"}}],
            "responses": {
                "101": {"description": "switching to WebSocket"},
                "400": _problem("not a WebSocket upgrade request"),
                **AUTH_ERRORS,
            },
        }
    },
    "/__fault": {
        "get": {
            "operationId": "showFaults",
            "security": [{"admin": []}],
            "responses": {
                "200": _json("faults in force", _ref("Faults")),
                "401": _problem("not the admin token"),
                "403": _problem("no admin token configured"),
            },
        },
        "post": {
            "operationId": "setFaults",
            "security": [{"admin": []}],
            "requestBody": _body(_ref("Faults")),
            "responses": {
                "200": _json("faults now in force", _ref("Faults")),
                **BODY_ERRORS,
                "401": _problem("not the admin token"),
                "403": _problem("no admin token configured"),
            },
        },
        "delete": {
            "operationId": "clearFaults",
            "security": [{"admin": []}],
            "responses": {
                "200": _json("faults off", _ref("Faults")),
                "401": _problem("not the admin token"),
                "403": _problem("no admin token configured"),
            },
        },
    },
    "/api/openapi.json": {
        "get": {
            "operationId": "openapi",
            "security": [],
            "responses": {"200": _json("this document", {"type": "object"})},
        }
    },
}

SCHEMAS: dict[str, Any] = {
    "User": {
        "type": "object",
        "required": ["username", "display_name", "email", "role", "created_at", "updated_at"],
        "properties": {
            "username": USERNAME,
            "display_name": DISPLAY,
            "email": {"oneOf": [EMAIL, {"type": "null"}]},
            "role": {"enum": ["user", "admin"]},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
        },
    },
    "NewUser": {
        "type": "object",
        "required": ["username"],
        "additionalProperties": False,
        "properties": {
            "username": USERNAME,
            "display_name": DISPLAY,
            "email": EMAIL,
            "password": PASSWORD,
        },
    },
    "Replacement": {
        "type": "object",
        "required": ["display_name"],
        "additionalProperties": False,
        "properties": {
            "display_name": DISPLAY,
            "email": {"oneOf": [EMAIL, {"type": "null"}]},
            "password": PASSWORD,
            "username": USERNAME,
            "role": {"type": "string"},
            "created_at": {"type": "string"},
            "updated_at": {"type": "string"},
        },
    },
    "UserPage": {
        "type": "object",
        "required": ["users", "total", "page", "per_page"],
        "properties": {
            "users": {"type": "array", "items": _ref("User")},
            "total": {"type": "integer"},
            "page": {"type": "integer"},
            "per_page": {"type": "integer"},
        },
    },
    "Tokens": {
        "type": "object",
        "required": ["access_token", "token_type", "expires_in", "refresh_token"],
        "properties": {
            "access_token": {"type": "string"},
            "token_type": {"const": "Bearer"},
            "expires_in": {"type": "integer"},
            "refresh_token": {"type": "string"},
        },
    },
    "Faults": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "error_rate": {"type": "number", "minimum": 0, "maximum": 1},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "retry_after": {
                "oneOf": [{"type": "integer", "minimum": 0, "maximum": 86400}, {"type": "null"}]
            },
            "latency_ms": {"type": "integer", "minimum": 0, "maximum": 60000},
            "drop_rate": {"type": "number", "minimum": 0, "maximum": 1},
        },
    },
    "Problem": {
        "type": "object",
        "required": ["type", "title", "status"],  # RFC 9457 §3.1
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "object"}},
        },
    },
}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "weblab demo API",
            "version": "1.0.0",
            "description": "Users behind JWT bearer auth; errors are RFC 9457 problems.",
        },
        "servers": [{"url": "https://api.example.com"}],
        "security": [{"bearer": []}],
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "admin": {"type": "http", "scheme": "bearer", "description": "API_ADMIN_TOKEN"},
            },
        },
    }
