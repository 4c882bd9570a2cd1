"""The local e-signature provider: the guarantor's own seal, applied at once.

No vendor is involved: ``create_flow`` signs every document with the tenant's seal
(PAdES, see :mod:`danbao.plugins.pades`) and answers a finished flow carrying the signed
PDFs. It signs only as the guarantor itself; a flow that needs a customer's own
signature goes to a vendor plug-in (e签宝, 法大大).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any, ClassVar

from . import results as r
from .errors import PermanentError
from .pades import Seal, seal_subject, sign_pdf
from .sdk import Label, Plugin, PluginKind


def seal_settings(seal: Seal, organisation: str) -> dict[str, str]:
    """Settings for this plug-in holding ``seal`` (what provisioning stores, sealed)."""
    return {
        "organisation": organisation,
        "pkcs12_b64": base64.b64encode(seal.pkcs12).decode(),
        "passphrase": seal.passphrase.decode(),
        "root_pem": seal.root_pem.decode(),
    }


class LocalPadesSigner(Plugin):
    id = "local.pades"
    kind = PluginKind.ESIGNATURE
    title = Label("本机构电子印章（PAdES）", "Own seal (PAdES, local)")
    timeout_s = 30.0
    max_attempts = 1
    settings_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "required": ["organisation", "pkcs12_b64", "passphrase", "root_pem"],
        "properties": {
            "organisation": {"type": "string", "minLength": 2, "maxLength": 100},
            "pkcs12_b64": {"type": "string", "minLength": 16, "x-secret": True},
            "passphrase": {"type": "string", "x-secret": True},
            "root_pem": {"type": "string", "pattern": "^-----BEGIN CERTIFICATE-----"},
        },
        "additionalProperties": False,
    }

    def _seal(self) -> Seal:
        return Seal(
            base64.b64decode(self.settings["pkcs12_b64"]),
            self.settings["passphrase"].encode(),
            self.settings["root_pem"].encode(),
        )

    async def health(self) -> r.Health:
        try:
            subject = seal_subject(self._seal())
        except ValueError as exc:
            return r.Health(False, f"the seal does not open: {exc}")
        return r.Health(True, subject)

    async def create_flow(self, request: r.FlowRequest) -> r.SignFlow:
        organisation = self.settings["organisation"]
        others = [s.name for s in request.signers if s.name != organisation]
        if others:
            raise PermanentError(
                f"the local seal signs only as {organisation}; {', '.join(others)} need a vendor"
            )
        seal = self._seal()
        signed: list[r.Document] = []
        for doc in request.documents:
            pdf = base64.b64decode(doc.content_b64)
            if hashlib.sha256(pdf).hexdigest() != doc.sha256:
                raise PermanentError(f"{doc.name}: content does not match its sha256")
            if not pdf.startswith(b"%PDF-"):
                raise PermanentError(f"{doc.name}: not a PDF")
            out = await sign_pdf(pdf, seal, reason=request.title, location=organisation)
            signed.append(
                r.Document(
                    doc.name, base64.b64encode(out).decode(), hashlib.sha256(out).hexdigest()
                )
            )
        flow_id = (
            "local-" + hashlib.sha256("".join(d.sha256 for d in signed).encode()).hexdigest()[:24]
        )
        return r.SignFlow(
            flow_id,
            "DONE",
            tuple(r.SignerState(s.name, "SIGNED") for s in request.signers),
            tuple(signed),
        )
