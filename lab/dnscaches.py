"""The DNS caches a lookup from the client passes, nearest first, and how to reach each.

1. the browser's own cache: inside the browse process or Chromium, for as long
   as they run (nothing to flush from outside);
2. ``stub``: the client's OS stub cache on 127.0.0.53 (services.forwarder);
3. ``router``: the home router's cache on its LAN address (services.forwarder);
4. ``resolver``: the ISP's recursive resolver, which walks from the root.

Each of the last three has a control program inside its container
(``dump``, ``flush``, ``stats``); `lab cache` and the scenarios' ``flush``
step use them through ``docker exec``.
"""

from __future__ import annotations

from dataclasses import dataclass

from lab import topology
from lab.compose import Lab

STUB_ADDRESS = "127.0.0.53"


@dataclass(frozen=True)
class Layer:
    name: str
    service: str
    program: str
    socket: str = ""  # "" = the program's default

    def argv(self, *command: str) -> list[str]:
        return ["python", "-m", self.program, *(["--socket", self.socket] if self.socket else []),
                *command]  # fmt: skip

    def address(self, plan: topology.Plan) -> str:
        """Where the client asks this layer (dig @ADDRESS)."""
        return STUB_ADDRESS if self.name == "stub" else plan.address(self.service)


LAYERS = (
    Layer("stub", "client", "services.forwarder.ctl", "/run/weblab-stub.sock"),
    Layer("router", "home-router", "services.forwarder.ctl", "/run/weblab-forwarder.sock"),
    Layer("resolver", "resolver", "services.resolver.ctl"),
)
BY_NAME = {layer.name: layer for layer in LAYERS}


def flush(lab: Lab, names: tuple[str, ...] = tuple(BY_NAME), below: str = "") -> None:
    """Empty the caches NAMES (all three by default), or only BELOW and the names under it."""
    for name in names:
        layer = BY_NAME[name]
        lab.exec(layer.service, *layer.argv("flush", *([below] if below else [])), check=True)


def forget_neighbours(lab: Lab) -> None:
    """Empty the client's and the home router's ARP caches, so the next packet starts with
    ARP (who has the gateway? who has the client?), as after a cold boot."""
    for service in ("client", "home-router"):
        lab.exec(service, "ip", "-4", "neigh", "flush", "all", check=True)
