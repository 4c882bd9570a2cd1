"""Real PAdES signatures on PDFs with a guarantor's own seal, and their validation.

The seal is an ECDSA P-256 key with a certificate issued by a per-tenant root (the
guarantor's "seal authority"), kept as PKCS#12. Signing and validation are pyHanko's:
we only choose the profile (PAdES baseline B-B, SHA-256), the metadata and what a
validation report says. A verifier trusts the tenant's root only, so a seal of another
guarantor, however well formed, does not validate here.
"""

from __future__ import annotations

import datetime as dt
import io
import secrets
from dataclasses import dataclass

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

SEAL_YEARS = 5


@dataclass(frozen=True)
class Seal:
    """A guarantor's signing identity: the PKCS#12 (key + certificate) and its root."""

    pkcs12: bytes
    passphrase: bytes
    root_pem: bytes

    def __repr__(self) -> str:  # never print key material
        return "Seal(...)"


@dataclass(frozen=True)
class SignatureReport:
    signatures: int
    intact: bool  # the signed bytes are unchanged
    valid: bool  # the cryptographic signature checks out
    trusted: bool  # the certificate chains to the tenant's root
    covers_whole_file: bool  # nothing was appended after the last signature
    signer: str | None
    signed_at: str | None

    @property
    def ok(self) -> bool:
        return self.signatures > 0 and self.intact and self.valid and self.trusted


def _name(common: str, organisation: str, uscc: str | None) -> x509.Name:
    parts = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        x509.NameAttribute(NameOID.COMMON_NAME, common),
    ]
    if uscc:
        parts.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, uscc))
    return x509.Name(parts)


def new_seal(organisation: str, uscc: str | None = None) -> Seal:
    """A fresh root and seal certificate for one guarantor (valid SEAL_YEARS years)."""
    now = dt.datetime.now(dt.UTC)
    until = now + dt.timedelta(days=365 * SEAL_YEARS)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name(f"{organisation} 电子印章根证书", organisation, uscc)
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(root_key, hashes.SHA256())
    )
    seal_key = ec.generate_private_key(ec.SECP256R1())
    seal = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{organisation} 电子印章", organisation, uscc))
        .issuer_name(root_name)
        .public_key(seal_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .sign(root_key, hashes.SHA256())
    )
    passphrase = secrets.token_urlsafe(24).encode()
    bundle = pkcs12.serialize_key_and_certificates(
        name=organisation.encode(),
        key=seal_key,
        cert=seal,
        cas=[root],
        encryption_algorithm=serialization.BestAvailableEncryption(passphrase),
    )
    return Seal(bundle, passphrase, root.public_bytes(serialization.Encoding.PEM))


def _root(root_pem: bytes) -> asn1_x509.Certificate:
    der = x509.load_pem_x509_certificate(root_pem).public_bytes(serialization.Encoding.DER)
    return asn1_x509.Certificate.load(der)


def seal_subject(seal: Seal) -> str:
    _, cert, _ = pkcs12.load_key_and_certificates(seal.pkcs12, seal.passphrase)
    if cert is None:
        raise ValueError("the PKCS#12 holds no certificate")
    return cert.subject.rfc4514_string()


async def sign_pdf(
    pdf: bytes, seal: Seal, *, reason: str, location: str, field_name: str = "GuarantorSeal"
) -> bytes:
    """The PDF with one more PAdES B-B signature (an incremental update)."""
    signer = signers.SimpleSigner.load_pkcs12_data(seal.pkcs12, [], passphrase=seal.passphrase)
    if signer is None:
        raise ValueError("the seal's PKCS#12 could not be opened")
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm="sha256",
        reason=reason,
        location=location,
        subfilter=fields.SigSeedSubFilter.PADES,
    )
    out = io.BytesIO()
    await signers.async_sign_pdf(writer, meta, signer=signer, output=out)
    return out.getvalue()


async def verify_pdf(pdf: bytes, root_pem: bytes) -> SignatureReport:
    """What a verifier trusting only ``root_pem`` can say about the PDF's signatures."""
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        embedded = list(reader.embedded_regular_signatures)
    except Exception:  # a damaged file is an answer ("no valid signature"), not a crash
        return SignatureReport(0, False, False, False, False, None, None)
    if not embedded:
        return SignatureReport(0, False, False, False, False, None, None)
    context = ValidationContext(trust_roots=[_root(root_pem)], allow_fetching=False)
    intact = valid = trusted = True
    signer = signed_at = None
    for sig in embedded:
        status = await async_validate_pdf_signature(sig, context)
        intact &= bool(status.intact)
        valid &= bool(status.valid)
        trusted &= bool(status.trusted)
        signer = status.signing_cert.subject.human_friendly
        signed_at = status.signer_reported_dt.isoformat() if status.signer_reported_dt else None
    last = embedded[-1]
    whole = last.coverage is not None and last.coverage.name == "ENTIRE_FILE"
    return SignatureReport(len(embedded), intact, valid, trusted, whole, signer, signed_at)
