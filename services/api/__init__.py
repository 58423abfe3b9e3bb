"""The JSON API backend (api-origin.example.com), one concern a module.

Map: ``app`` wires routes and middlewares, ``state`` holds the typed shared
state; handlers: ``auth`` (login, refresh, bearer checks), ``users`` (the
users resource), ``events`` (the WebSocket of user changes), ``admin`` (the
/__fault switch and its middleware); rules without I/O: ``tokens`` (JWT),
``refresh`` (refresh tokens), ``passwords`` (scrypt), ``preconditions``
(ETag, If-Match), ``mergepatch`` (RFC 7396), ``paging`` (Link), ``bodies``
(reading JSON bodies), ``problems`` (RFC 9457 errors), ``ratelimit`` (token
bucket), ``idempotency`` (Idempotency-Key), ``faults`` (what a fault does);
``store`` keeps users in SQLite; ``openapi`` describes it all.
"""
