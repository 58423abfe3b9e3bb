"""weblab in other people's test suites: the ``weblab`` pytest fixture.

Installed with the project (the ``pytest11`` entry point in pyproject.toml),
so any suite run with this environment's pytest can ask for ``weblab``. The
plugin only defines fixtures: nothing starts unless a test requests one.

Who does what:

- testcontainers' ``DockerCompose`` starts the Compose project when the
  fixture has to: ``up --wait`` on the services' health checks.
- At the end of the session the lab is removed only if this fixture started
  it, with ``Lab.down``: testcontainers' ``stop(down=True)`` always passes
  ``--volumes`` and would delete the API's data volume, which may predate
  the session.
- The project's own code does what testcontainers cannot: ``lab.bootstrap``
  (Docker engine, compose binary, the lab image and its wheelhouse, the
  certificates), the subnet preflight and ``lab.distance`` (writing the link
  delay plan and making every host's daemon load it). Commands in containers
  go through ``Lab.exec`` (``docker exec`` by container id): testcontainers'
  ``exec_in_container`` raises on any non-zero exit and has no timeout, and a
  test must be able to look at a failed command's exit code. Faults, scenario
  runs and captures reuse lab/scenario and lab/capture as they are.

An already running, healthy lab (``lab up``, a previous session) is reused
and left running.
"""

from __future__ import annotations

import json as jsonlib
import logging
import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from lab import topology
from lab.compose import ROOT, Lab
from lab.errors import UsageError
from lab.scenario.spec import FAULT_KINDS, Fault

if TYPE_CHECKING:
    from testcontainers.compose import DockerCompose

    from lab.capture.live import Recording
    from lab.ownservice.spec import OwnFile
    from lab.scenario.runner import RunResult

logger = logging.getLogger(__name__)

# The faults a test can hold open with ``weblab.fault``; the scenario file's
# other faults (pause, api) need more than a service and a number.
FIXTURE_FAULTS = ("stop", "blackhole", "loss", "delay", "api")


def addresses(plan: topology.Plan = topology.DEFAULT_PLAN) -> dict[str, str]:
    """Each Compose service's address on the lab network of PLAN."""
    return {h.service: h.ipv4 for h in plan.hosts}


def dns_names() -> dict[str, str]:
    """Each Compose service's name on the lab's Internet."""
    return {h.service: h.dns_name for h in topology.HOSTS}


def make_fault(kind: str, service: str, **kw: Any) -> Fault:
    """A Fault as a scenario file would give it, refused with the reason when it is not one."""
    if kind not in FIXTURE_FAULTS:
        raise UsageError(f"unknown fault {kind!r}; weblab.fault takes {', '.join(FIXTURE_FAULTS)}")
    if service not in topology.BY_SERVICE:
        raise UsageError(f"unknown service {service!r}; one of {', '.join(topology.BY_SERVICE)}")
    allowed = set(FAULT_KINDS[kind][1]) - {"service", "before_step"}
    unknown = set(kw) - allowed
    if unknown:
        takes = ", ".join(sorted(allowed)) or "nothing but the service"
        raise UsageError(f"fault {kind!r}: unknown argument(s) {', '.join(sorted(unknown))}"
                         f" (it takes {takes})")  # fmt: skip
    percent, ms = float(kw.get("percent", 0)), int(kw.get("ms", 0))
    if kind == "loss" and not 0 < percent <= 100:
        raise UsageError("fault 'loss' needs percent= between 0 and 100")
    if kind == "delay" and ms <= 0:
        raise UsageError("fault 'delay' needs ms= above 0")
    if kind == "api":
        if service != "api":
            raise UsageError("fault 'api' is the API's own switch: service must be 'api'")
        if not kw:
            raise UsageError("fault 'api' needs a setting, e.g. error_rate=0.5, status=503")
        settings = tuple(sorted((k, float(v)) for k, v in kw.items()))
        return Fault(kind, service, settings=settings)
    return Fault(kind, service, percent, ms)


def parse_dig_answers(text: str, rtype: str) -> list[str]:
    """The rdata of the answer rows of type ``rtype`` in ``dig +noall +answer`` output."""
    out = []
    for line in text.splitlines():
        parts = line.split(None, 4)
        if len(parts) == 5 and not line.startswith(";") and parts[3].upper() == rtype.upper():
            out.append(parts[4].strip())
    return out


def _compose(lab: Lab) -> DockerCompose:
    """testcontainers' DockerCompose for the lab's project (it has no project name option)."""
    from testcontainers.compose import DockerCompose

    class LabCompose(DockerCompose):
        @property
        def compose_command_property(self) -> list[str]:
            # Through env(1): compose.yaml must see the lab's LAB_PROJECT and LAB_NET,
            # read when called, since lab.create() may move the lab to a free subnet.
            env = [f"{k}={v}" for k, v in lab.compose_env().items()]
            own = ["-f", str(lab.override)] if lab.override else []  # weblab.yaml's services
            return ["env", *env, "docker", "compose", "-p", lab.project,
                    "-f", str(lab.root / "compose.yaml"), *own]  # fmt: skip

    return LabCompose(context=str(lab.root), wait=True)


class Weblab:
    """The running lab as a test sees it (the ``weblab`` fixture's value)."""

    def __init__(self, lab: Lab, compose: DockerCompose, runs_dir: Path) -> None:
        self.lab = lab
        self.compose = compose
        self.runs_dir = runs_dir
        self.addresses: Mapping[str, str] = addresses(lab.plan)
        self.names: Mapping[str, str] = dns_names()
        self.ca_bundle: Path = lab.root / "certs" / "ca.crt"
        self.resolver: str = lab.plan.address("resolver")

    def address(self, service: str) -> str:
        return self.addresses[service]

    def run(self, scenario: str | Path) -> RunResult:
        """Run a scenario by name (lab/scenarios/NAME.yaml) or path; its RunResult."""
        from lab.scenario import spec
        from lab.scenario.runner import run_scenario

        path = Path(scenario)
        sc = spec.load(path) if path.suffix in (".yaml", ".yml") else spec.find(str(scenario))
        return run_scenario(self.lab, sc, self.runs_dir)

    def exec(
        self, service: str, *cmd: str, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in a service's container; its exit code is the caller's to judge."""
        return self.lab.exec(service, *cmd, timeout=timeout)

    def dig(self, name: str, type: str = "A") -> list[str]:
        """The answers the lab resolver gives the client for NAME/TYPE (CNAMEs left out)."""
        r = self.exec("client", "dig", "+time=3", "+tries=1", "+noall", "+answer", name, type)
        if r.returncode != 0:
            raise AssertionError(f"dig {name} {type} failed ({r.returncode}): {r.stdout}{r.stderr}")
        return parse_dig_answers(r.stdout, type)

    def fetch(
        self,
        url: str,
        method: str = "GET",
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        retries: int = 0,
    ) -> dict[str, Any]:
        """One request with the lab's own client (services/client/fetch.py), from the client."""
        cmd = ["python", "-m", "services.client.fetch", method, url, "--retries", str(retries)]
        for k, v in (headers or {}).items():
            cmd += ["--header", f"{k}: {v}"]
        if json is not None:
            cmd += ["--json", jsonlib.dumps(json)]
        r = self.exec("client", *cmd, timeout=300)
        if r.returncode != 0:
            raise AssertionError(f"the fetch client failed ({r.returncode}): {r.stderr[-800:]}")
        doc: dict[str, Any] = jsonlib.loads(r.stdout)
        return doc

    @contextmanager
    def fault(self, kind: str, service: str, **kw: Any) -> Iterator[Fault]:
        """Hold a fault (stop, blackhole, loss, delay, api) for the body; undone on the way out.

        ``fault("api", "api", error_rate=0.5, status=503, retry_after=1)`` flips the API's
        own switch, as the scenario fault of that name does.
        """
        from lab.scenario.faults import Faults

        faults = Faults(self.lab, (make_fault(kind, service, **kw),))
        try:
            faults.apply(logger.info)
            yield faults.faults[0]
        finally:
            faults.remove(logger.info)

    @contextmanager
    def capture(self, raw: bool = False) -> Iterator[Recording]:
        """Capture the lab while the body runs: ``.pcapng``, and ``.report`` after it."""
        from lab.capture.live import recording

        with recording(self.lab, self.runs_dir, raw, title="capture (pytest)") as rec:
            yield rec


def _healthy(lab: Lab) -> bool:
    statuses = lab.status()
    return all(s.state == "running" and s.health in ("healthy", "-") for s in statuses)


def start(lab: Lab, compose: DockerCompose, own: OwnFile | None = None) -> bool:
    """Make the lab run (with OWN's services, a loaded weblab.yaml); True when this call
    started it (and so must tear it down)."""
    if own is None and _healthy(lab):
        logger.info("weblab: reusing the running lab %s", lab.project)
        return False
    from lab import bootstrap, distance
    from lab.ownservice import ready

    was_running = lab.running()
    bootstrap.bootstrap()
    if not was_running:
        if own is not None:
            lab.detach()  # written again below, in the subnet create() chooses
        lab.create()  # a free subnet, remembered, before the delay plan is written in it
    if own is not None:
        ready.check_images(own)
        lab.attach(own, logger.info)
        ready.build(lab, own)
    profile = distance.current(lab) if was_running else topology.DEFAULT_PROFILE
    distance.write_plan(lab, profile)  # before the containers start: each reads it at once
    (lab.root / "runs" / "keylog").mkdir(parents=True, exist_ok=True)
    try:
        compose.start()
    except Exception:
        if own is not None:
            ready.explain(lab, own)  # the user's service that did not start, file:line, logs
        raise
    if own is not None:
        ready.wait_listening(lab, own)
    distance.apply(lab, profile)
    return not was_running


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("weblab_file", "weblab.yaml: your own services in the lab (or $WEBLAB_FILE)")


def own_file(config: pytest.Config) -> OwnFile | None:
    """The suite's weblab.yaml ($WEBLAB_FILE, else the ``weblab_file`` ini option), loaded."""
    from lab.ownservice import generate, spec

    given = os.environ.get("WEBLAB_FILE") or str(config.getini("weblab_file") or "")
    if not given:
        return None
    path = Path(given) if os.path.isabs(given) else Path(config.rootpath) / given
    return spec.load(path, generate.zone_names())


@pytest.fixture(scope="session")
def weblab(request: pytest.FixtureRequest) -> Iterator[Weblab]:
    """The lab, started for the session (or reused if running); stopped only if started here.

    With a weblab.yaml ($WEBLAB_FILE or the ``weblab_file`` ini option) its services join."""
    lab = Lab()
    compose = _compose(lab)
    started = start(lab, compose, own_file(request.config))
    try:
        yield Weblab(lab, compose, ROOT / "runs")
    finally:
        if started:
            lab.down()
