"""E-mail over SMTP as a messaging channel (aiosmtplib; STARTTLS or TLS as configured)."""

from __future__ import annotations

import time
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any, ClassVar

import aiosmtplib

from . import results as r
from .errors import PermanentError, TransientError
from .sdk import Label, Plugin, PluginKind


class SmtpEmail(Plugin):
    id = "email.smtp"
    kind = PluginKind.MESSAGING
    title = Label("电子邮件（SMTP）", "E-mail (SMTP)")
    rate_per_minute = 120
    timeout_s = 15.0
    settings_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "required": ["host", "port", "from_address"],
        "properties": {
            "host": {"type": "string", "minLength": 1},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535},
            "security": {"enum": ["starttls", "tls", "none"], "default": "starttls"},
            "username": {"type": "string"},
            "password": {"type": "string", "x-secret": True},
            "from_address": {"type": "string", "format": "email"},
            "from_name": {"type": "string", "maxLength": 60},
        },
        "additionalProperties": False,
    }

    def _client_options(self) -> dict[str, Any]:
        security = self.settings.get("security", "starttls")
        options: dict[str, Any] = {
            "hostname": self.settings["host"],
            "port": self.settings["port"],
            "timeout": self.timeout_s,
            "use_tls": security == "tls",
            "start_tls": security == "starttls",
        }
        if self.settings.get("username"):
            options |= {
                "username": self.settings["username"],
                "password": self.settings.get("password", ""),
            }
        return options

    async def send(self, message: r.Message) -> r.Delivery:
        mail = EmailMessage()
        sender = self.settings["from_address"]
        name = self.settings.get("from_name")
        mail["From"] = f"{name} <{sender}>" if name else sender
        mail["To"] = ", ".join(message.recipients)
        mail["Subject"] = message.title
        mail["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
        mail.set_content(message.text)
        try:
            refused, _ = await aiosmtplib.send(mail, **self._client_options())
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise PermanentError("every recipient was refused") from exc
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise PermanentError(f"SMTP authentication failed: {exc.code}") from exc
        except aiosmtplib.SMTPConnectError as exc:
            raise TransientError(str(exc), delivered=False) from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 400 <= exc.code < 500:
                raise TransientError(f"SMTP {exc.code}", delivered=False) from exc
            raise PermanentError(f"SMTP {exc.code}: {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise TransientError(str(exc)) from exc
        rejected = tuple(a for a in message.recipients if a in refused)
        accepted = tuple(a for a in message.recipients if a not in refused)
        return r.Delivery("email.smtp", str(mail["Message-ID"]), accepted, rejected)

    async def health(self) -> r.Health:
        started = time.perf_counter()
        client = aiosmtplib.SMTP(**self._client_options())
        try:
            await client.connect()
            await client.noop()
        except (aiosmtplib.SMTPException, OSError) as exc:
            return r.Health(False, f"{type(exc).__name__}: {exc}")
        finally:
            if client.is_connected:
                await client.quit()
        latency = round((time.perf_counter() - started) * 1000, 1)
        return r.Health(True, f"{self.settings['host']} answered", latency)
