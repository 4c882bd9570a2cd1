"""The tamper-evident audit trail: append-only, hash-chained per tenant."""

from danbao.audit.chain import GENESIS_HASH, ChainReport, record_event, verify_chain

__all__ = ["GENESIS_HASH", "ChainReport", "record_event", "verify_chain"]
