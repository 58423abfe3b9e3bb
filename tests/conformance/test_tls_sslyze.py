"""The edge's and the origin's TLS judged by sslyze against Mozilla's "intermediate" profile.

sslyze connects to 127.0.0.1 with the public name as SNI (``www.example.com``
for the edge, ``origin.example.com`` for the origin) and validates the chain
against the lab root (``custom_ca_file``; the lab CA is in no public store).
Same check on the command line:
``python -m sslyze --mozilla_config=intermediate --certinfo_ca_file ca.crt
'www.example.com:PORT{127.0.0.1}'``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from sslyze import (
    CertificateInfoExtraArgument,
    ScanCommandsExtraArguments,
    Scanner,
    ServerNetworkLocation,
    ServerScanRequest,
    ServerScanResult,
    ServerScanStatusEnum,
)
from sslyze.mozilla_tls_profile.tls_config_checker import (
    SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER,
    MozillaTlsConfiguration,
    ServerNotCompliantWithTlsConfiguration,
    TlsConfigurationEnum,
    check_server_against_tls_configuration,
)

from harness.peers import Tls, start_edge, start_origin
from harness.procs import LOOPBACK
from tests.conformance.support import Procs

# sslyze loads its bundled Mozilla trust store, which holds a certificate with a negative
# serial number; cryptography 44 warns about it. Not ours, not about our servers.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Parsed a negative serial number:cryptography.utils.CryptographyDeprecationWarning"
)

# Issues sslyze may report, by its issue key, with the reason we accept each (none today).
KNOWN_NONCOMPLIANCE: dict[str, str] = {}  # none: both servers meet the profile


@dataclass
class Scan:
    """One server's sslyze result and its Mozilla-intermediate issues (empty = compliant)."""

    name: str
    result: ServerScanResult
    issues: dict[str, str]


def _scan(targets: dict[str, tuple[str, int]], ca: Path) -> dict[str, ServerScanResult]:
    extra = ScanCommandsExtraArguments(
        certificate_info=CertificateInfoExtraArgument(custom_ca_file=ca)
    )
    requests = [
        ServerScanRequest(
            server_location=ServerNetworkLocation(hostname=sni, port=port, ip_address=LOOPBACK),
            scan_commands=SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER,
            scan_commands_extra_arguments=extra,
        )
        for sni, port in targets.values()
    ]
    scanner = Scanner()
    scanner.queue_scans(requests)
    by_port = {r.server_location.port: r for r in scanner.get_results()}
    return {name: by_port[port] for name, (_sni, port) in targets.items()}


@pytest.fixture(scope="module")
def scans(
    procs: Procs,
    tls_for: dict[str, Tls],
    tmp_path_factory: pytest.TempPathFactory,
    results_dir: Path,
) -> dict[str, Scan]:
    """sslyze's verdicts on the HTTPS edge and the origin behind it."""
    work = tmp_path_factory.mktemp("sslyze")
    origin = procs.add(start_origin(work, tls_for["origin"]))
    edge = procs.add(
        start_edge(
            work,
            [f"www.example.com=https://origin.example.com:{origin.port}"],
            tls=tls_for["edge"],
            resolve=[f"origin.example.com:{origin.port}:{LOOPBACK}"],
        )
    )
    assert edge.port is not None
    assert origin.port is not None
    results = _scan(
        {"edge": ("www.example.com", edge.port), "origin": ("origin.example.com", origin.port)},
        tls_for["edge"].ca,
    )
    profile = MozillaTlsConfiguration.get(TlsConfigurationEnum.MOZILLA_INTERMEDIATE)
    out: dict[str, Scan] = {}
    for name, result in results.items():
        assert result.scan_status == ServerScanStatusEnum.COMPLETED, result.connectivity_error_trace
        try:
            check_server_against_tls_configuration(result, profile)
            issues: dict[str, str] = {}
        except ServerNotCompliantWithTlsConfiguration as e:
            issues = dict(e.issues)
        out[name] = Scan(name, result, issues)
    summary = {
        name: {
            "mozilla_intermediate_issues": s.issues or "compliant",
            "accepted": _accepted(s.result),
            "curves": _curves(s.result),
        }
        for name, s in out.items()
    }
    (results_dir / "sslyze-summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print()
    for name, s in out.items():
        print(
            f"sslyze {name}: "
            + (
                "compliant with Mozilla intermediate"
                if not s.issues
                else "; ".join(f"{k}: {v}" for k, v in s.issues.items())
            )
        )
    return out


def _accepted(result: ServerScanResult) -> dict[str, list[str]]:
    attempts = {
        "TLS 1.0": result.scan_result and result.scan_result.tls_1_0_cipher_suites,
        "TLS 1.1": result.scan_result and result.scan_result.tls_1_1_cipher_suites,
        "TLS 1.2": result.scan_result and result.scan_result.tls_1_2_cipher_suites,
        "TLS 1.3": result.scan_result and result.scan_result.tls_1_3_cipher_suites,
        "SSL 3.0": result.scan_result and result.scan_result.ssl_3_0_cipher_suites,
        "SSL 2.0": result.scan_result and result.scan_result.ssl_2_0_cipher_suites,
    }
    out: dict[str, list[str]] = {}
    for version, attempt in attempts.items():
        assert attempt, f"no {version} result"
        assert attempt.result, f"no {version} result"
        out[version] = [c.cipher_suite.name for c in attempt.result.accepted_cipher_suites]
    return out


def _curves(result: ServerScanResult) -> list[str]:
    attempt = result.scan_result and result.scan_result.elliptic_curves
    assert attempt
    assert attempt.result
    return [c.name for c in attempt.result.supported_curves or []]


def test_only_tls12_and_tls13(scans: dict[str, Scan]) -> None:
    """Both servers refuse SSL 2/3 and TLS 1.0/1.1 (RFC 8996) and accept TLS 1.2 and 1.3."""
    for s in scans.values():
        accepted = _accepted(s.result)
        assert [v for v, suites in accepted.items() if suites] == ["TLS 1.2", "TLS 1.3"], s.name


def test_chain_verifies_against_lab_root(scans: dict[str, Scan]) -> None:
    """The chain each server sends builds to the lab root, for the name used as SNI."""
    for s in scans.values():
        assert "certificate_path_validation" not in s.issues, s.issues
        attempt = s.result.scan_result and s.result.scan_result.certificate_info
        assert attempt
        assert attempt.result
        deployment = attempt.result.certificate_deployments[0]
        assert deployment.verified_certificate_chain, s.name
        leaf = deployment.received_certificate_chain[0]
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert s.result.server_location.hostname in names.get_values_for_type(x509.DNSName)
        assert deployment.received_chain_has_valid_order, s.name
        assert not deployment.received_chain_contains_anchor_certificate, s.name
        assert len(deployment.received_certificate_chain) == 2, "leaf + intermediate expected"


def test_mozilla_intermediate_issues_are_known(scans: dict[str, Scan]) -> None:
    """Mozilla-intermediate non-compliance is limited to the documented, reported issues."""
    for s in scans.values():
        unexpected = {k: v for k, v in s.issues.items() if k not in KNOWN_NONCOMPLIANCE}
        assert not unexpected, f"{s.name}: {unexpected}"
