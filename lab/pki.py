"""The lab's PKI: a root CA, an issuing CA and one certificate per server.

The shape copies the public Web PKI on purpose: clients trust only the root
(``ca.crt``); servers send their leaf plus the intermediate (RFC 8446 §4.4.2
certificate_list), so the client builds the path leaf -> intermediate -> root
itself (RFC 5280 §6). Profiles follow the CA/Browser Forum baseline
requirements in spirit: serverAuth EKU, SAN with every name (RFC 6125: the
subject CN is not used for matching), SKI/AKI to link the chain.

Keys are ECDSA P-256 (RFC 8422), small and fast to make. Everything is
idempotent: existing files that still form a valid chain are kept, so
restarting the lab does not invalidate certificates already handed out.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

ROOT_NAME = "weblab Root CA"
ISSUING_NAME = "weblab Issuing CA 1"
ROOT_DAYS = 3650
ISSUING_DAYS = 1825
# 397 days: the longest leaf lifetime browsers accept (CA/B Forum BR 6.3.2).
LEAF_DAYS = 90  # Mozilla's recommended server certificate lifetime
# Renew a leaf when less than this remains, so a long-lived lab never expires mid-run.
RENEW_BEFORE = dt.timedelta(days=30)


@dataclass(frozen=True)
class Leaf:
    name: str  # file stem: <name>.crt / <name>.key
    dns_names: tuple[str, ...]


LEAVES: tuple[Leaf, ...] = (
    Leaf(
        "edge",
        (
            "www.example.com",
            "static.example.com",
            "api.example.com",
            "example.com",
            "edge.edgecdn.net",
            "*.edgecdn.net",
        ),
    ),
    Leaf("origin", ("origin.example.com", "origin2.example.com", "www.example.com")),
    Leaf("api", ("api-origin.example.com",)),
)


class PkiError(Exception):
    """The certificate directory cannot be made usable."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "weblab"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Create with 0600 from the start: no window where the key is world-readable.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.chmod(path, 0o600)


def _write_certs(path: Path, certs: Sequence[x509.Certificate]) -> None:
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))


def _builder(
    subject: str,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    days: int,
    start: dt.datetime | None = None,
) -> x509.CertificateBuilder:
    if start is None:
        start = _now() - dt.timedelta(minutes=5)  # tolerate clock skew between containers
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def make_root(name: str = ROOT_NAME) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A self-signed root: basicConstraints CA (RFC 5280 §4.2.1.9), keyCertSign."""
    key = _new_key()
    cert = (
        _builder(name, _name(name), key.public_key(), ROOT_DAYS)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def make_issuing(
    root: x509.Certificate, root_key: ec.EllipticCurvePrivateKey
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """An intermediate limited to issuing leaves (pathLenConstraint 0)."""
    key = _new_key()
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key())
    cert = (
        _builder(ISSUING_NAME, root.subject, key.public_key(), ISSUING_DAYS)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .add_extension(aki, critical=False)
        .sign(root_key, hashes.SHA256())
    )
    return cert, key


def make_leaf(
    leaf: Leaf,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    start: dt.datetime | None = None,
    days: int = LEAF_DAYS,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A TLS server certificate: SAN, serverAuth, digitalSignature (ECDSA signs, never
    encrypts, so keyEncipherment would be wrong here: RFC 8446 §4.4.3).

    ``issuer`` None makes it self-signed with ``issuer_key`` as its own key.
    """
    key = issuer_key if issuer is None else _new_key()
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key())
    san = x509.SubjectAlternativeName([x509.DNSName(n) for n in leaf.dns_names])
    issuer_name = _name(leaf.dns_names[0]) if issuer is None else issuer.subject
    cert = (
        _builder(leaf.dns_names[0], issuer_name, key.public_key(), days, start)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(san, critical=False)
        .add_extension(aki, critical=False)
        .sign(issuer_key, hashes.SHA256())
    )
    return cert, key


def verify_leaf(chain: Sequence[x509.Certificate], root: x509.Certificate, dns_name: str) -> None:
    """Build and check the path leaf -> intermediates -> root as a TLS client would.

    Raises ``VerificationError`` when the chain does not verify for ``dns_name``.
    """
    verifier = (
        PolicyBuilder()
        .store(Store([root]))
        .time(_now())
        .build_server_verifier(x509.DNSName(dns_name))
    )
    verifier.verify(chain[0], list(chain[1:]))


def _load_certs(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} is not an ECDSA key")
    return key


def _matches(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bool:
    return cert.public_key() == key.public_key()


def _load_pair(crt: Path, key: Path) -> tuple[list[x509.Certificate], ec.EllipticCurvePrivateKey]:
    """Read an existing pair; ``ValueError``/``OSError`` if absent or unusable."""
    certs = _load_certs(crt)
    private = _load_key(key)
    if not certs or not _matches(certs[0], private):
        raise ValueError(f"{crt.name} does not belong to {key.name}")
    return certs, private


def _ensure_cas(
    directory: Path, progress: Callable[[str], None]
) -> tuple[x509.Certificate, x509.Certificate, ec.EllipticCurvePrivateKey]:
    try:
        (root,), root_key = _load_pair(directory / "ca.crt", directory / "ca.key")
        (issuing,), issuing_key = _load_pair(
            directory / "intermediate.crt", directory / "intermediate.key"
        )
        issuing.verify_directly_issued_by(root)
        if issuing.not_valid_after_utc - _now() < RENEW_BEFORE:
            raise ValueError("issuing CA about to expire")
    except (OSError, ValueError, TypeError, InvalidSignature) as e:
        progress(f"creating CA (root and issuing) in {directory} ({_why(e)})")
        root, root_key = make_root()
        issuing, issuing_key = make_issuing(root, root_key)
        _write_key(directory / "ca.key", root_key)
        _write_certs(directory / "ca.crt", [root])
        _write_key(directory / "intermediate.key", issuing_key)
        _write_certs(directory / "intermediate.crt", [issuing])
    else:
        progress(f"keeping CA in {directory} (valid until {issuing.not_valid_after_utc:%Y-%m-%d})")
    return root, issuing, issuing_key


def _why(e: BaseException) -> str:
    if isinstance(e, FileNotFoundError):
        return "not found"
    return str(e) or type(e).__name__


def _ensure_leaf(
    directory: Path,
    leaf: Leaf,
    root: x509.Certificate,
    issuing: x509.Certificate,
    issuing_key: ec.EllipticCurvePrivateKey,
    progress: Callable[[str], None],
) -> None:
    crt, key = directory / f"{leaf.name}.crt", directory / f"{leaf.name}.key"
    try:
        chain, _ = _load_pair(crt, key)
        for dns_name in leaf.dns_names:
            verify_leaf(chain, root, dns_name.replace("*", "wildcard", 1))
        if chain[0].not_valid_after_utc - _now() < RENEW_BEFORE:
            raise ValueError("about to expire")
    except (OSError, ValueError, VerificationError) as e:
        progress(f"issuing {leaf.name}.crt for {', '.join(leaf.dns_names)} ({_why(e)})")
        cert, private = make_leaf(leaf, issuing, issuing_key)
        _write_key(key, private)
        _write_certs(crt, [cert, issuing])
    else:
        progress(f"keeping {leaf.name}.crt (valid until {chain[0].not_valid_after_utc:%Y-%m-%d})")


def ensure_certs(directory: Path, progress: Callable[[str], None]) -> None:
    """Make ``directory`` hold a valid CA, issuing CA and every server's chain and key."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PkiError(f"cannot create {directory}: {e.strerror}") from e
    root, issuing, issuing_key = _ensure_cas(directory, progress)
    for leaf in LEAVES:
        _ensure_leaf(directory, leaf, root, issuing, issuing_key, progress)


def issue(
    ca_dir: Path,
    leaf: Leaf,
    out_dir: Path,
    progress: Callable[[str], None],
    key_mode: int = 0o600,
) -> None:
    """Issue LEAF from the lab CA in CA_DIR into OUT_DIR (a user's service, lab/ownservice):
    ``<name>.crt`` (leaf + intermediate) and ``<name>.key``; kept when still valid."""
    root, issuing, issuing_key = _ensure_cas(ca_dir, progress)
    out_dir.mkdir(parents=True, exist_ok=True)
    _ensure_leaf(out_dir, leaf, root, issuing, issuing_key, progress)
    os.chmod(out_dir / f"{leaf.name}.key", key_mode)


# --- Bad certificates, on demand, for fault scenarios ---------------------------
#
# Each one is wrong in exactly one way for www.example.com, so a scenario can
# show the single check a client refuses it on (RFC 5280 §6.1.3, RFC 6125 §6).

BAD_HOST = "www.example.com"
BAD_KINDS: Mapping[str, str] = {
    "expired": "validity ended 30 days ago (RFC 5280 §4.1.2.5)",
    "not-yet-valid": "validity starts in ten years (RFC 5280 §4.1.2.5)",
    "wrong-host": "SAN names wrong.example.net only (RFC 6125 §6.4)",
    "self-signed": "the leaf signs itself; no CA vouches for it",
    "unknown-ca": "issued by a root the clients do not trust",
    "missing-intermediate": "valid leaf sent without the issuing CA (RFC 8446 §4.4.2)",
}
ROGUE_NAME = "weblab Rogue Root CA"


def _make_bad(
    kind: str, issuing: x509.Certificate, issuing_key: ec.EllipticCurvePrivateKey
) -> tuple[list[x509.Certificate], ec.EllipticCurvePrivateKey]:
    """The chain file content and key for one bad ``kind``."""
    now = _now()
    if kind == "expired":
        cert, key = make_leaf(
            Leaf(kind, (BAD_HOST,)),
            issuing,
            issuing_key,
            start=now - dt.timedelta(days=120),
            days=90,
        )
        return [cert, issuing], key
    if kind == "not-yet-valid":
        cert, key = make_leaf(
            Leaf(kind, (BAD_HOST,)),
            issuing,
            issuing_key,
            start=now + dt.timedelta(days=3650),
            days=90,
        )
        return [cert, issuing], key
    if kind == "wrong-host":
        cert, key = make_leaf(Leaf(kind, ("wrong.example.net",)), issuing, issuing_key)
        return [cert, issuing], key
    if kind == "missing-intermediate":
        cert, key = make_leaf(Leaf(kind, (BAD_HOST,)), issuing, issuing_key)
        return [cert], key
    if kind == "self-signed":
        key = _new_key()
        cert = make_leaf(Leaf(kind, (BAD_HOST,)), None, key)[0]
        return [cert], key
    if kind == "unknown-ca":
        # The rogue root goes in the chain as a MITM box would send it; the client
        # finds a self-signed root it does not trust (not a missing issuer).
        rogue, rogue_key = make_root(ROGUE_NAME)
        cert, key = make_leaf(Leaf(kind, (BAD_HOST,)), rogue, rogue_key)
        return [cert, rogue], key
    raise ValueError(f"unknown bad certificate kind {kind!r}")


def _still_bad(kind: str, chain: Sequence[x509.Certificate], issuing: x509.Certificate) -> None:
    """``ValueError`` unless ``chain`` is still bad the intended way, under this issuing CA."""
    if kind in ("expired", "not-yet-valid", "wrong-host", "missing-intermediate"):
        chain[0].verify_directly_issued_by(issuing)  # else the CA was replaced
    if kind == "not-yet-valid" and chain[0].not_valid_before_utc <= _now():
        raise ValueError("became valid")


def ensure_bad_certs(directory: Path, progress: Callable[[str], None]) -> None:
    """Make ``directory/bad/<kind>.crt/.key`` for every kind in ``BAD_KINDS``."""
    _root, issuing, issuing_key = _ensure_cas(directory, progress)
    bad = directory / "bad"
    try:
        bad.mkdir(exist_ok=True)
    except OSError as e:
        raise PkiError(f"cannot create {bad}: {e.strerror}") from e
    for kind, why in BAD_KINDS.items():
        crt, key = bad / f"{kind}.crt", bad / f"{kind}.key"
        try:
            chain, _ = _load_pair(crt, key)
            _still_bad(kind, chain, issuing)
        except (OSError, ValueError, TypeError, InvalidSignature) as e:
            progress(f"making bad/{kind}.crt: {why} ({_why(e)})")
            chain, private = _make_bad(kind, issuing, issuing_key)
            _write_key(key, private)
            _write_certs(crt, chain)
        else:
            progress(f"keeping bad/{kind}.crt")


# --- Describing what is on disk (``lab certs``) ---------------------------------


@dataclass(frozen=True)
class CertInfo:
    subject: str
    issuer: str
    sans: tuple[str, ...]
    not_before: str
    not_after: str
    sha256: str  # colon-separated, as openssl x509 -fingerprint -sha256 prints it


@dataclass(frozen=True)
class ChainInfo:
    file: str  # relative to the certificate directory
    certs: tuple[CertInfo, ...]


def cert_info(cert: x509.Certificate) -> CertInfo:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = tuple(san.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        sans = ()
    digest = cert.fingerprint(hashes.SHA256()).hex().upper()
    return CertInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        sans=sans,
        not_before=f"{cert.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ}",
        not_after=f"{cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}",
        sha256=":".join(digest[i : i + 2] for i in range(0, len(digest), 2)),
    )


def describe(directory: Path) -> list[ChainInfo]:
    """Every ``*.crt`` under ``directory`` (and ``bad/``), each certificate in file order."""
    out: list[ChainInfo] = []
    for path in sorted(directory.glob("*.crt")) + sorted(directory.glob("bad/*.crt")):
        try:
            certs = _load_certs(path)
        except ValueError as e:
            raise PkiError(f"{path} is not a PEM certificate file: {e}") from e
        out.append(
            ChainInfo(
                file=path.relative_to(directory).as_posix(),
                certs=tuple(cert_info(c) for c in certs),
            )
        )
    return out


def _render(chains: Sequence[ChainInfo]) -> str:
    lines: list[str] = []
    for chain in chains:
        lines.append(chain.file)
        for depth, c in enumerate(chain.certs):
            lines.append(f"  [{depth}] subject   {c.subject}")
            lines.append(f"      issuer    {c.issuer}")
            if c.sans:
                lines.append(f"      SANs      {', '.join(c.sans)}")
            lines.append(f"      valid     {c.not_before} .. {c.not_after}")
            lines.append(f"      sha256    {c.sha256}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lab.pki", description="Create, refresh or list the lab's certificates."
    )
    parser.add_argument("directory", type=Path, help="where to write ca.crt, <server>.crt/.key")
    parser.add_argument(
        "--bad",
        action="store_true",
        help="also make the bad certificates in DIRECTORY/bad/ (fault scenarios)",
    )
    parser.add_argument(
        "--show",
        action="store_true",
        help="list each chain (subject, issuer, SANs, validity, SHA-256); creates nothing",
    )
    parser.add_argument("--json", action="store_true", help="with --show: JSON output")
    args = parser.parse_args(argv)

    def say(line: str) -> None:
        print(line, file=sys.stderr)

    try:
        if args.show:
            chains = describe(args.directory)
            if not chains:
                print(
                    f"error: no certificates in {args.directory}; run without --show first",
                    file=sys.stderr,
                )
                return 1
            print(
                json.dumps([asdict(c) for c in chains], indent=2) if args.json else _render(chains)
            )
            return 0
        ensure_certs(args.directory, say)
        if args.bad:
            ensure_bad_certs(args.directory, say)
    except PkiError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
