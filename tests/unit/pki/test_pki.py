"""lab.pki: the chain verifies, the profiles are right, and reruns keep the files."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from lab.pki import LEAVES, ensure_certs, main, verify_leaf


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    ensure_certs(directory, lambda _line: None)
    return directory


def load(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def test_every_leaf_verifies_for_each_name(certs: Path) -> None:
    """Each server chain verifies to the root for every SAN (cryptography's verifier)."""
    (root,) = load(certs / "ca.crt")
    for leaf in LEAVES:
        chain = load(certs / f"{leaf.name}.crt")
        for name in leaf.dns_names:
            verify_leaf(chain, root, name.replace("*", "anything"))


def test_openssl_agrees(certs: Path) -> None:
    """openssl verify accepts each leaf with only ca.crt trusted."""
    for leaf in LEAVES:
        single = certs / f"{leaf.name}-leaf-only.pem"
        single.write_bytes(load(certs / f"{leaf.name}.crt")[0].public_bytes(Encoding.PEM))
        done = subprocess.run(
            [
                "openssl",
                "verify",
                "-purpose",
                "sslserver",
                "-CAfile",
                str(certs / "ca.crt"),
                "-untrusted",
                str(certs / "intermediate.crt"),
                str(single),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_leaf_is_not_trusted_for_another_name(certs: Path) -> None:
    """The api certificate does not vouch for www.example.com."""
    (root,) = load(certs / "ca.crt")
    with pytest.raises(x509.verification.VerificationError):
        verify_leaf(load(certs / "api.crt"), root, "www.example.com")


def test_files_are_chain_and_private_keys(certs: Path) -> None:
    """<name>.crt is leaf + intermediate, ca.crt is the root alone, keys are 0600."""
    assert len(load(certs / "ca.crt")) == 1
    intermediate = load(certs / "intermediate.crt")[0]
    for leaf in LEAVES:
        chain = load(certs / f"{leaf.name}.crt")
        assert len(chain) == 2
        assert chain[1] == intermediate
        mode = stat.S_IMODE((certs / f"{leaf.name}.key").stat().st_mode)
        assert mode == 0o600
        assert b"ENCRYPTED" not in (certs / f"{leaf.name}.key").read_bytes()


def test_ca_extensions(certs: Path) -> None:
    """Root and issuing CA carry critical basicConstraints and keyUsage, SKI, and AKI."""
    (root,) = load(certs / "ca.crt")
    (issuing,) = load(certs / "intermediate.crt")
    assert "CN=weblab Root CA" in root.subject.rfc4514_string()
    for cert in (root, issuing):
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
        assert bc.critical
        assert bc.value.ca
        assert ku.critical
        assert ku.value.key_cert_sign
        assert ku.value.crl_sign
        cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert issuing.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    assert "CN=weblab Issuing CA 1" in issuing.subject.rfc4514_string()
    issuing.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)


def test_leaf_extensions(certs: Path) -> None:
    """Leaves: serverAuth EKU, digitalSignature, the planned SANs, SKI and AKI."""
    for leaf in LEAVES:
        cert = load(certs / f"{leaf.name}.crt")[0]
        ext = cert.extensions
        assert ext.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.SERVER_AUTH]
        )
        assert ext.get_extension_for_class(x509.KeyUsage).value.digital_signature
        assert not ext.get_extension_for_class(x509.BasicConstraints).value.ca
        san = ext.get_extension_for_class(x509.SubjectAlternativeName).value
        assert tuple(san.get_values_for_type(x509.DNSName)) == leaf.dns_names
        ext.get_extension_for_class(x509.SubjectKeyIdentifier)
        ext.get_extension_for_class(x509.AuthorityKeyIdentifier)


def test_rerun_keeps_files(tmp_path: Path) -> None:
    """A second run rewrites nothing and says it kept each file."""
    ensure_certs(tmp_path, lambda _line: None)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    lines: list[str] = []
    ensure_certs(tmp_path, lines.append)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert all(line.startswith("keeping") for line in lines)
    assert len(lines) == 1 + len(LEAVES)


def test_missing_leaf_is_reissued_under_the_same_ca(tmp_path: Path) -> None:
    """Deleting one key reissues that server only; the root stays."""
    ensure_certs(tmp_path, lambda _line: None)
    root_before = (tmp_path / "ca.crt").read_bytes()
    (tmp_path / "origin.key").unlink()
    lines: list[str] = []
    ensure_certs(tmp_path, lines.append)
    assert (tmp_path / "ca.crt").read_bytes() == root_before
    assert [line.split()[0] for line in lines].count("issuing") == 1


def test_new_ca_reissues_leaves(tmp_path: Path) -> None:
    """A replaced root makes every leaf be reissued so chains stay valid."""
    ensure_certs(tmp_path, lambda _line: None)
    (tmp_path / "ca.key").unlink()
    ensure_certs(tmp_path, lambda _line: None)
    (root,) = load(tmp_path / "ca.crt")
    verify_leaf(load(tmp_path / "edge.crt"), root, "www.example.com")


def test_cli(tmp_path: Path) -> None:
    """python -m lab.pki DIR exits 0 and writes the files."""
    assert main([str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "edge.key").exists()
