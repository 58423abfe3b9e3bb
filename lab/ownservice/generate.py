"""A user's own services made part of one lab: addresses, DNS records, edge routes,
certificates and the Compose override that `lab up --with weblab.yaml` adds.

Everything lands in ``runs/labs/<project>/own/`` (generated, never committed):

- ``user-services.yaml``: the Compose override (``docker compose -f compose.yaml -f it``):
  each user container on the lab network at .200 up, its certificate at
  ``/certs/user/<name>.crt/.key`` and the lab root at ``/certs/ca.crt`` (nothing else of
  ``certs/``: no other server's key), ``/etc/resolv.conf`` and ``LAB_RESOLVER`` naming
  the lab resolver; the zone servers given the extra records, the edge its routes and
  a certificate that also names the fronted services;
- ``zones/<zone>.records``: master-file records the zone servers add to the zone they
  serve at load time (services/dns, ``LAB_ZONES_EXTRA``), so the committed zone files stay
  as written. A fronted name is a CNAME into edgecdn.net, exactly as www.example.com is,
  and the edge reaches the container by ``<first>-origin.example.com`` (its public name
  resolves to the edge itself); a direct name is an A record to the container;
- ``hosts.json``: the hosts added to the lab's plan, read back by every later `lab`
  command of the project (status, run, the capture's names); removed by `lab down`.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from lab import pki, topology
from lab.ownservice.spec import ZONE, OwnFile, OwnService

FIRST_OCTET = 200  # .101-.180 are big.example.com's records; user hosts stay clear of them
TTL = 300
CDN_TTL = 60  # the CDN zone's short TTLs (services/zones/edgecdn.net.zone)
CDN_ZONE = "edgecdn.net"
EXTRA_ENV = "LAB_ZONES_EXTRA"  # services/dns reads <dir>/<zone>.records
ROUTES_ENV = "EDGE_EXTRA_ROUTES"  # services/cdn adds these --route values
OVERRIDE = "user-services.yaml"
ZONE_FILE = Path(__file__).resolve().parents[2] / "services" / "zones" / "example.com.zone"


def own_dir(root: Path, project: str) -> Path:
    return root / "runs" / "labs" / project / "own"


def hosts(own: OwnFile, plan: topology.Plan) -> tuple[topology.Host, ...]:
    """The user's services as hosts of PLAN, at .200 up in the file's order."""
    used = {h.ipv4 for h in plan.hosts}
    out = []
    for i, s in enumerate(own.services):
        ipv4 = f"{plan.prefix}.{FIRST_OCTET + i}"
        assert ipv4 not in used, f"{ipv4} is already a lab host"
        how = "fronted by the edge" if s.fronted else "reached directly"
        out.append(
            topology.Host(
                s.service,
                f"your service {s.name} ({how})",
                ipv4,
                s.name,
                (f"tcp/{s.port}",),
                own=True,
            )
        )
    return tuple(out)


def zone_records(own: OwnFile, plan: topology.Plan) -> dict[str, str]:
    """Zone -> the master-file records the lab adds to it for the user's services."""
    lab_hosts = dict(zip((s.name for s in own.services), hosts(own, plan), strict=True))
    example = [f"; added by `lab up --with {own.path}` (lab/ownservice)"]
    cdn = list(example)
    for s in own.services:
        address = lab_hosts[s.name].ipv4
        if s.fronted:
            example.append(f"{s.name}. {TTL} IN CNAME {s.name}.{CDN_ZONE}.")
            example.append(f"{s.origin_name}. {TTL} IN A {address}")
            cdn.append(f"{s.name}.{CDN_ZONE}. {CDN_TTL} IN A {plan.address('edge')}")
        else:
            example.append(f"{s.name}. {TTL} IN A {address}")
    out = {ZONE: "\n".join(example) + "\n"}
    if len(cdn) > 1:
        out[CDN_ZONE] = "\n".join(cdn) + "\n"
    return out


def routes(own: OwnFile) -> list[str]:
    """The edge's extra ``--route`` values: each fronted name to its container by name."""
    return [f"{s.name}=https://{s.origin_name}:{s.port}" for s in own.services if s.fronted]


def cert_names(s: OwnService) -> tuple[str, ...]:
    return (s.name, s.origin_name) if s.fronted else (s.name,)


def _service_doc(
    s: OwnService, host: topology.Host, plan: topology.Plan, folder: Path, root: Path
) -> dict[str, Any]:
    certs = folder / "certs"
    doc: dict[str, Any] = {"image": s.image} if s.image else {"build": {"context": s.build}}
    if s.dockerfile:
        doc["build"]["dockerfile"] = s.dockerfile
    doc.update(
        hostname=s.name,
        labels={"org.weblab.lab": "true", "org.weblab.own": f"{s.name} ({s.service})"},
        environment={
            "LAB_RESOLVER": plan.address("resolver"),
            "LAB_NET": plan.prefix,
            "WEBLAB_NAME": s.name,
            "WEBLAB_PORT": str(s.port),
            "WEBLAB_CERT": f"/certs/user/{s.name}.crt",
            "WEBLAB_KEY": f"/certs/user/{s.name}.key",
            "SSLKEYLOGFILE": f"/keylog/{s.service}.keylog",  # the capture decrypts it too
            **dict(s.environment),
        },
        volumes=[
            f"{certs / 'ca.crt'}:/certs/ca.crt:ro",
            f"{certs / (s.name + '.crt')}:/certs/user/{s.name}.crt:ro",
            f"{certs / (s.name + '.key')}:/certs/user/{s.name}.key:ro",
            # Read-write: the lab image's entrypoint rewrites it (with the same line).
            f"{folder / 'resolv.conf'}:/etc/resolv.conf",
            f"{root / 'runs' / 'keylog'}:/keylog",
        ],
        networks={"internet": {"ipv4_address": host.ipv4}},
        depends_on={"resolver": {"condition": "service_healthy"}},
    )
    if s.command:
        doc["command"] = list(s.command)
    if s.healthcheck:
        hc = s.healthcheck
        test = list(hc) if isinstance(hc, tuple) else ["CMD-SHELL", hc]
        doc["healthcheck"] = {"test": test, "interval": "3s", "timeout": "3s", "retries": 20}
    return doc


def override(own: OwnFile, plan: topology.Plan, folder: Path, root: Path) -> dict[str, Any]:
    """The Compose override document for OWN in PLAN, its files under FOLDER."""
    services: dict[str, Any] = {
        s.service: _service_doc(s, h, plan, folder, root)
        for s, h in zip(own.services, hosts(own, plan), strict=True)
    }

    def zones() -> dict[str, Any]:  # a fresh copy each: no YAML aliases in the file
        return {
            "volumes": [f"{folder / 'zones'}:/zones-extra:ro"],
            "environment": {EXTRA_ENV: "/zones-extra"},
        }

    services["ns-example"] = zones()
    if any(s.fronted for s in own.services):
        services["ns-cdn"] = zones()
        services["edge"] = {
            "environment": {ROUTES_ENV: " ".join(routes(own))},
            # The edge's certificate, reissued to name the fronted services too,
            # mounted over the shared one for this lab only.
            "volumes": [
                f"{folder / 'edge' / 'edge.crt'}:/certs/edge.crt:ro",
                f"{folder / 'edge' / 'edge.key'}:/certs/edge.key:ro",
            ],
        }
    return {"services": services}


def write(
    own: OwnFile, plan: topology.Plan, root: Path, project: str, say: Callable[[str], None]
) -> Path:
    """Write everything for OWN into the project's own/ folder; the override's path."""
    folder = own_dir(root, project)
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "zones").mkdir(parents=True)
    for zone, text in zone_records(own, plan).items():
        (folder / "zones" / f"{zone}.records").write_text(text)
    (folder / "resolv.conf").write_text(
        f"nameserver {plan.address('resolver')}\noptions timeout:2 attempts:2\n"
    )
    ca_dir = root / "certs"
    certs = folder / "certs"
    certs.mkdir()
    shutil.copyfile(ca_dir / "ca.crt", certs / "ca.crt")
    for s in own.services:
        # World-readable key: a lab-only key in a git-ignored folder, and the user's
        # image may run as any user.
        pki.issue(ca_dir, pki.Leaf(s.name, cert_names(s)), certs, say, key_mode=0o644)
    fronted = tuple(n for s in own.services if s.fronted for n in (s.name,))
    if fronted:
        edge = next(leaf for leaf in pki.LEAVES if leaf.name == "edge")
        (folder / "edge").mkdir()
        pki.issue(ca_dir, pki.Leaf("edge", edge.dns_names + fronted), folder / "edge", say)
    path = folder / OVERRIDE
    doc = override(own, plan, folder, root)
    path.write_text(
        f"# generated by `lab up --with {own.path}`; do not edit\n"
        + yaml.safe_dump(doc, sort_keys=False)
    )
    state = {
        "file": str(own.path),
        "hosts": [
            {
                "service": h.service,
                "role": h.role,
                "dns_name": h.dns_name,
                "serves": h.serves,
                "octet": int(h.ipv4.rsplit(".", 1)[1]),
            }
            for h in hosts(own, plan)
        ],
    }
    (folder / "hosts.json").write_text(json.dumps(state, indent=1) + "\n")
    return path


def remembered(
    root: Path, project: str, plan: topology.Plan
) -> tuple[Path | None, tuple[topology.Host, ...]]:
    """The override and the user's hosts `lab up --with` left for PROJECT, in PLAN's subnet."""
    folder = own_dir(root, project)
    try:
        doc = json.loads((folder / "hosts.json").read_text())
        extra = tuple(
            topology.Host(
                h["service"],
                h["role"],
                f"{plan.prefix}.{h['octet']}",
                h["dns_name"],
                tuple(h["serves"]),
                own=True,
            )
            for h in doc["hosts"]
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None, ()
    path = folder / OVERRIDE
    return (path if path.exists() else None), extra


def remembered_file(root: Path, project: str) -> str | None:
    """The weblab.yaml PROJECT was last started with, if it is still there."""
    try:
        given = str(json.loads((own_dir(root, project) / "hosts.json").read_text())["file"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return given if Path(given).is_file() else None


def forget(root: Path, project: str) -> None:
    folder = own_dir(root, project)
    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):  # runs/labs/<project>/ too, unless something else is there
        folder.parent.rmdir()


def zone_names(path: Path = ZONE_FILE) -> frozenset[str]:
    """The owner names the committed example.com zone already has."""
    from services.dnscore.masterfile import load_master

    return frozenset(e.rr.rname.idna().rstrip(".").lower() for e in load_master(path))
