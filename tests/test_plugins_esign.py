"""The local e-signature provider: real PAdES signatures that verify, and fail when touched."""

from __future__ import annotations

import base64
import hashlib

import pytest
from weasyprint import HTML

from danbao.plugins import PermanentError, results
from danbao.plugins.contract import PluginContract
from danbao.plugins.local_pades import LocalPadesSigner, seal_settings
from danbao.plugins.pades import new_seal, verify_pdf

GUARANTOR = "四川示例融资担保有限公司"
SEAL = new_seal(GUARANTOR, "91510100MA61R8KX2L")
OTHER = new_seal("另一家融资担保有限公司")


def contract_pdf() -> bytes:
    html = "<h1>委托保证合同</h1><p>担保金额：人民币壹佰万元整（¥1,000,000.00）</p>"
    return bytes(HTML(string=html).write_pdf())


def document(pdf: bytes, name: str = "委托保证合同.pdf") -> results.Document:
    return results.Document(name, base64.b64encode(pdf).decode(), hashlib.sha256(pdf).hexdigest())


def flow(pdf: bytes, *signers: str) -> results.FlowRequest:
    return results.FlowRequest(
        "签署委托保证合同",
        (document(pdf),),
        tuple(results.SignerSpec(s, "organisation") for s in signers or (GUARANTOR,)),
    )


PDF = contract_pdf()


class TestLocalPadesContract(PluginContract):
    plugin = LocalPadesSigner
    settings = seal_settings(SEAL, GUARANTOR)
    samples = {"create_flow": [flow(PDF)]}  # noqa: RUF012
    failing = {"create_flow": [flow(PDF, GUARANTOR, "张三"), flow(b"not a pdf")]}  # noqa: RUF012


async def _signed(pdf: bytes = PDF) -> bytes:
    answer = await LocalPadesSigner(seal_settings(SEAL, GUARANTOR)).create_flow(flow(pdf))
    assert answer.status == "DONE" and answer.signers[0].status == "SIGNED"
    signed = base64.b64decode(answer.documents[0].content_b64)
    assert hashlib.sha256(signed).hexdigest() == answer.documents[0].sha256
    return signed


async def test_a_signed_contract_verifies_intact_and_trusted() -> None:
    signed = await _signed()
    report = await verify_pdf(signed, SEAL.root_pem)
    assert report.ok and report.covers_whole_file and report.signatures == 1
    assert report.signer is not None and GUARANTOR in report.signer
    assert signed.startswith(PDF[:8]) and len(signed) > len(PDF)  # an incremental update


async def test_one_changed_byte_makes_it_invalid() -> None:
    signed = bytearray(await _signed())
    # A byte of the original document, inside the signed range.
    at = signed.index(b"/MediaBox")
    signed[at + 2] ^= 0x01
    report = await verify_pdf(bytes(signed), SEAL.root_pem)
    assert not report.ok
    assert not report.intact or report.signatures == 0


async def test_another_guarantors_seal_is_not_trusted_here() -> None:
    signed = await _signed()
    report = await verify_pdf(signed, OTHER.root_pem)
    assert report.intact and report.valid and not report.trusted and not report.ok


async def test_an_unsigned_pdf_has_nothing_to_verify() -> None:
    report = await verify_pdf(PDF, SEAL.root_pem)
    assert report.signatures == 0 and not report.ok


async def test_a_document_that_does_not_match_its_digest_is_refused() -> None:
    bad = results.FlowRequest(
        "x",
        (results.Document("a.pdf", base64.b64encode(PDF).decode(), "0" * 64),),
        (results.SignerSpec(GUARANTOR, "organisation"),),
    )
    with pytest.raises(PermanentError, match="sha256"):
        await LocalPadesSigner(seal_settings(SEAL, GUARANTOR)).create_flow(bad)


async def test_health_names_the_seal_or_says_it_does_not_open() -> None:
    assert (await LocalPadesSigner(seal_settings(SEAL, GUARANTOR)).health()).ok
    broken = {**seal_settings(SEAL, GUARANTOR), "passphrase": "wrong"}
    assert not (await LocalPadesSigner(broken).health()).ok
