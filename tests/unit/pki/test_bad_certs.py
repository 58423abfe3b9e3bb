"""lab.pki bad certificates: each fails Python's TLS client for exactly its reason."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import pytest
from cryptography import x509

from lab.pki import BAD_HOST, BAD_KINDS, describe, ensure_bad_certs, ensure_certs, main


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    ensure_certs(directory, lambda _line: None)
    ensure_bad_certs(directory, lambda _line: None)
    return directory


def handshake(certs: Path, crt: Path, key: Path, host: str = BAD_HOST) -> None:
    """A full TLS handshake over memory BIOs: no sockets, the real OpenSSL checks."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(crt, key)
    client_ctx = ssl.create_default_context(cafile=str(certs / "ca.crt"))
    bios = [ssl.MemoryBIO() for _ in range(4)]  # c->s in, c->s out, s->c in, s->c out
    client = client_ctx.wrap_bio(bios[2], bios[0], server_hostname=host)
    server = server_ctx.wrap_bio(bios[0], bios[2], server_side=True)
    done = {"client": False, "server": False}
    for _ in range(10):
        for name, side in (("client", client), ("server", server)):
            if not done[name]:
                try:
                    side.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        if all(done.values()):
            return
    raise AssertionError("handshake did not finish")


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("expired", "certificate has expired"),
        ("not-yet-valid", "certificate is not yet valid"),
        ("wrong-host", "Hostname mismatch, certificate is not valid for 'www.example.com'."),
        ("self-signed", "self-signed certificate"),
        ("unknown-ca", "self-signed certificate in certificate chain"),
        ("missing-intermediate", "unable to get local issuer certificate"),
    ],
)
def test_bad_kind_fails_with_its_reason(certs: Path, kind: str, message: str) -> None:
    """Python's ssl, trusting only ca.crt, refuses the bad chain with the exact verify message."""
    with pytest.raises(ssl.SSLCertVerificationError) as caught:
        handshake(certs, certs / "bad" / f"{kind}.crt", certs / "bad" / f"{kind}.key")
    assert caught.value.verify_message == message


def test_good_origin_passes_the_same_handshake(certs: Path) -> None:
    """The control: the real origin chain completes the same in-memory handshake."""
    handshake(certs, certs / "origin.crt", certs / "origin.key")


def test_every_kind_made(certs: Path) -> None:
    """bad/ holds one .crt/.key pair per kind; only unknown-ca and the CA-issued ones chain."""
    lengths = {
        kind: len(x509.load_pem_x509_certificates((certs / "bad" / f"{kind}.crt").read_bytes()))
        for kind in BAD_KINDS
    }
    assert lengths == {
        "expired": 2,
        "not-yet-valid": 2,
        "wrong-host": 2,
        "self-signed": 1,
        "unknown-ca": 2,
        "missing-intermediate": 1,
    }
    assert all((certs / "bad" / f"{kind}.key").exists() for kind in BAD_KINDS)


def test_bad_certs_are_kept_then_follow_a_new_ca(tmp_path: Path) -> None:
    """A rerun keeps every bad file; a replaced CA reissues the CA-signed bad ones."""
    ensure_bad_certs(tmp_path, lambda _line: None)
    lines: list[str] = []
    ensure_bad_certs(tmp_path, lines.append)
    assert sum(line.startswith("keeping bad/") for line in lines) == len(BAD_KINDS)
    (tmp_path / "ca.key").unlink()
    lines.clear()
    ensure_bad_certs(tmp_path, lines.append)
    remade = sorted(line.split()[1] for line in lines if line.startswith("making"))
    assert remade == [
        "bad/expired.crt:",
        "bad/missing-intermediate.crt:",
        "bad/not-yet-valid.crt:",
        "bad/wrong-host.crt:",
    ]


def test_describe_lists_every_chain(certs: Path) -> None:
    """describe() gives subject, issuer, SANs, not-after and a SHA-256 fingerprint per cert."""
    chains = {c.file: c for c in describe(certs)}
    assert {"ca.crt", "edge.crt", "origin.crt", "bad/expired.crt"} <= set(chains)
    leaf, issuing = chains["origin.crt"].certs
    assert leaf.subject == "CN=origin.example.com,O=weblab"
    assert leaf.issuer == issuing.subject == "CN=weblab Issuing CA 1,O=weblab"
    assert leaf.sans == ("origin.example.com", "origin2.example.com", "www.example.com")
    assert len(leaf.sha256.split(":")) == 32
    assert leaf.not_after.endswith("Z")


def test_cli_show_json(certs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """python -m lab.pki DIR --show --json prints the chains as JSON and creates nothing."""
    assert main([str(certs), "--show", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert any(c["file"] == "bad/self-signed.crt" for c in doc)


def test_cli_show_empty_dir_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--show on an empty directory exits 1 with one line saying what to do."""
    assert main([str(tmp_path), "--show"]) == 1
    assert "run without --show" in capsys.readouterr().err


def test_cli_bad(tmp_path: Path) -> None:
    """python -m lab.pki DIR --bad makes the good and the bad certificates."""
    assert main([str(tmp_path), "--bad"]) == 0
    assert (tmp_path / "bad" / "unknown-ca.crt").exists()
    assert (tmp_path / "edge.crt").exists()
