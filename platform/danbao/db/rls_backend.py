"""PostgreSQL client that hands the tenant to row-level security.

Each top-level transaction begins with ``SET LOCAL app.tenant_id = '<uuid>'`` read from
the tenant context, so the setting lives exactly as long as the transaction and never
leaks to the next user of a pooled connection. With no tenant in context the setting is
emptied and the policies match nothing: the database fails closed.
"""

from __future__ import annotations

import uuid

from tortoise.backends.asyncpg.client import AsyncpgDBClient, TransactionWrapper
from tortoise.backends.base.client import (
    NestedTransactionContext,
    TransactionContext,
    TransactionContextPooled,
)

from danbao.tenancy.context import current_tenant_or_none


def tenant_setting_sql() -> str:
    ctx = current_tenant_or_none()
    # SET takes no bind parameters; a UUID's canonical text is the only thing interpolated.
    value = str(uuid.UUID(str(ctx.tenant_id))) if ctx else ""
    return f"SET LOCAL app.tenant_id = '{value}'"


class TenantChangedInTransaction(RuntimeError):
    """A savepoint was opened for another tenant than its transaction's: it would run under
    the outer setting (often the empty one, where every policy silently matches nothing)."""


class RlsTransactionWrapper(TransactionWrapper):
    setting = ""

    async def begin(self) -> None:
        setting = tenant_setting_sql()
        if isinstance(self._parent, RlsTransactionWrapper):  # a savepoint inherits the setting
            if setting != self._parent.setting:
                raise TenantChangedInTransaction(
                    "enter the tenant scope before the transaction begins, not inside another"
                )
            await super().begin()
        else:
            await super().begin()
            await self._connection.execute(setting)
        self.setting = setting

    def _in_transaction(self) -> TransactionContext:
        return NestedTransactionContext(RlsTransactionWrapper(self))


class RlsAsyncpgClient(AsyncpgDBClient):
    def _in_transaction(self) -> TransactionContext:
        return TransactionContextPooled(RlsTransactionWrapper(self), self._pool_init_lock)


client_class = RlsAsyncpgClient
