"""Tortoise models.

Two kinds of table. *Global* tables (``tenant``, ``operator``, ``operator_session``)
belong to the operators. *Tenant-owned* tables derive from :class:`TenantModel`: their
rows carry ``tenant_id``, every query on them is scoped to the tenant in context (the
first wall), and on PostgreSQL the migrations make ``(tenant_id, id)`` the primary key,
add composite foreign keys and row-level security (the second wall). The ORM sees a
single ``id`` key because Tortoise has no composite keys; the database holds the real one.
"""

from __future__ import annotations

from typing import Any, Self

import msgspec
from tortoise import fields
from tortoise.manager import Manager
from tortoise.models import Model
from tortoise.queryset import QuerySet

from danbao.ids import new_id
from danbao.tenancy.context import current_tenant


class CrossTenantWrite(RuntimeError):
    """An object of one tenant was about to be written under another tenant's context."""


class TenantScopedManager(Manager):
    """Every query starts filtered to the tenant in context; no context, no query."""

    def get_queryset(self) -> QuerySet:
        return QuerySet(self._model).filter(tenant_id=current_tenant().tenant_id)


class TenantModel(Model):
    id = fields.UUIDField(primary_key=True, default=new_id)
    tenant_id = fields.UUIDField()

    class Meta:
        abstract = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Tortoise does not inherit Meta.manager from an abstract base; install it here
        # (the metaclass binds the manager to the new class right after this runs).
        super().__init_subclass__(**kwargs)
        cls._meta.manager = TenantScopedManager()

    async def save(self, *args: Any, **kwargs: Any) -> None:
        ctx_tenant = current_tenant().tenant_id
        if self.tenant_id is None:
            self.tenant_id = ctx_tenant
        elif self.tenant_id != ctx_tenant:
            raise CrossTenantWrite(f"{type(self).__name__} {self.id} belongs to another tenant")
        await super().save(*args, **kwargs)

    async def delete(self, *args: Any, **kwargs: Any) -> None:
        if self.tenant_id != current_tenant().tenant_id:
            raise CrossTenantWrite(f"{type(self).__name__} {self.id} belongs to another tenant")
        await super().delete(*args, **kwargs)

    @classmethod
    async def get_in_tenant(cls, object_id: Any) -> Self | None:
        """The one way to fetch by id: scoped, and None for foreign and missing alike."""
        return await cls.filter(id=object_id).first()


class Tenant(Model):
    """A guarantor. Global: operators manage these rows, business data hangs off them."""

    id = fields.UUIDField(primary_key=True, default=new_id)
    slug = fields.CharField(max_length=63, unique=True)
    name = fields.CharField(max_length=200)
    status = fields.CharField(max_length=16, default="active")  # active | suspended
    plan = fields.CharField(max_length=32, default="standard")
    host = fields.CharField(max_length=253, null=True, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    suspended_at = fields.DatetimeField(null=True)
    suspended_reason = fields.TextField(null=True)

    class Meta:
        table = "tenant"

    @property
    def is_active(self) -> bool:
        return self.status == "active"


class Operator(Model):
    """A SaaS operator: manages tenants in the operator console, never reads their records."""

    id = fields.UUIDField(primary_key=True, default=new_id)
    email = fields.CharField(max_length=254, unique=True)
    name = fields.CharField(max_length=100)
    password_hash = fields.CharField(max_length=255)
    failed_logins = fields.IntField(default=0)
    locked_until = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "operator"


class OperatorSession(Model):
    """A signed-in operator browser. The cookie holds a random token, the row its hash."""

    id = fields.UUIDField(primary_key=True, default=new_id)
    operator: fields.ForeignKeyRelation[Operator] = fields.ForeignKeyField(
        "danbao.Operator", related_name="sessions", on_delete=fields.CASCADE
    )
    token_hash = fields.CharField(max_length=64, unique=True)
    csrf_token = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()

    class Meta:
        table = "operator_session"


class User(TenantModel):
    email = fields.CharField(max_length=254)
    name = fields.CharField(max_length=100)
    password_hash = fields.CharField(max_length=255)
    roles: Any = fields.JSONField(default=list)
    department = fields.CharField(max_length=63, null=True)
    is_active = fields.BooleanField(default=True)
    failed_logins = fields.IntField(default=0)
    locked_until = fields.DatetimeField(null=True)
    last_login_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    # Contact ids for messaging channels that do not take e-mail (``auth.contacts``):
    # the WeCom user id, and the mobile sealed under the tenant's data key (never clear).
    wecom_userid = fields.CharField(max_length=64, null=True)
    mobile_sealed = fields.TextField(null=True)

    class Meta:
        table = "app_user"
        unique_together = (("tenant_id", "email"),)


class Session(TenantModel):
    """A signed-in browser or API client. The cookie holds a random token, the row its hash."""

    user_id = fields.UUIDField()
    token_hash = fields.CharField(max_length=64)
    csrf_token = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()
    ip = fields.CharField(max_length=45, null=True)
    user_agent = fields.CharField(max_length=300, null=True)

    class Meta:
        table = "user_session"
        unique_together = (("tenant_id", "token_hash"),)


class ApiToken(TenantModel):
    """A long-lived bearer token for an integrator, bound to a user and shown once."""

    user_id = fields.UUIDField()
    name = fields.CharField(max_length=100)
    prefix = fields.CharField(max_length=16)
    token_hash = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_used_at = fields.DatetimeField(null=True)
    expires_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_token"
        unique_together = (("tenant_id", "token_hash"),)


class DefinitionVersion(TenantModel):
    """An immutable, numbered snapshot of the definition bundle of a tenant."""

    number = fields.IntField()
    content_hash = fields.CharField(max_length=80)
    bundle: Any = fields.JSONField()
    published_at = fields.DatetimeField(auto_now_add=True)
    published_by = fields.CharField(max_length=200)
    note = fields.TextField(default="")

    class Meta:
        table = "definition_version"
        unique_together = (("tenant_id", "number"),)


class AuditHead(TenantModel):
    """The tip of the audit chain of a tenant, whose row lock serialises appends."""

    last_seq = fields.BigIntField(default=0)
    last_hash = fields.CharField(max_length=64)

    class Meta:
        table = "audit_head"
        unique_together = (("tenant_id",),)


class AuditEvent(TenantModel):
    """One link of the append-only, hash-chained audit trail."""

    seq = fields.BigIntField()
    at = fields.DatetimeField()
    actor_kind = fields.CharField(max_length=16)
    actor_id = fields.CharField(max_length=200)
    action = fields.CharField(max_length=100)
    object_type = fields.CharField(max_length=50)
    object_id = fields.CharField(max_length=100)
    data: Any = fields.JSONField(default=dict)
    request_id = fields.CharField(max_length=64, null=True)
    prev_hash = fields.CharField(max_length=64)
    hash = fields.CharField(max_length=64)

    class Meta:
        table = "audit_event"
        unique_together = (("tenant_id", "seq"),)
        indexes = (("tenant_id", "object_id", "seq"),)


class StoredFile(TenantModel):
    """A file kept in object storage, the bytes under the key prefix of the tenant."""

    key = fields.CharField(max_length=500)
    filename = fields.CharField(max_length=255)
    content_type = fields.CharField(max_length=100)
    size = fields.BigIntField()
    sha256 = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)
    created_by = fields.CharField(max_length=200)

    class Meta:
        table = "stored_file"
        unique_together = (("tenant_id", "key"),)


class Record(TenantModel):
    """One filled-in form. The data lives in a JSON column keyed by the form field keys.

    form_version pins the definition version the record was created with, and the
    number is given on submission only. created_by and department feed the data scopes.
    """

    form_id = fields.CharField(max_length=63)
    form_version = fields.IntField()
    number = fields.CharField(max_length=64, null=True)
    status = fields.CharField(max_length=16, default="draft")  # draft | submitted
    data: Any = fields.JSONField(default=dict)
    # Field key -> keyed hash (HMAC) of a sensitive field's value, for equality search.
    search_index: Any = fields.JSONField(default=dict)
    revision = fields.IntField(default=1)
    created_by = fields.UUIDField()
    department = fields.CharField(max_length=63, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    submitted_at = fields.DatetimeField(null=True)

    async def save(self, *args: Any, **kwargs: Any) -> None:
        # A record read with its sensitive fields decrypted holds plaintext in memory:
        # only the record actions (which seal the data again) may write it.
        if getattr(self, "_opened", False):
            raise RuntimeError("an opened record holds plaintext; write it through the actions")
        await super().save(*args, **kwargs)

    class Meta:
        table = "form_record"
        # SQLite lets many NULLs share a unique key; PostgreSQL gets a partial index too.
        unique_together = (("tenant_id", "number"),)
        indexes = (
            ("tenant_id", "form_id", "created_at"),
            # Department scopes: count and page without reading every record of the form.
            ("tenant_id", "form_id", "department", "created_at"),
        )


class Attachment(TenantModel):
    """A file given to an attachment field of a form. Pending until a saved record links it.

    The bytes and their facts are a StoredFile (file_id). A pending upload (record_id null)
    is usable only by its uploader until expires_at, then the cleanup job removes it.
    """

    file_id = fields.UUIDField()
    form_id = fields.CharField(max_length=63)
    field_key = fields.CharField(max_length=63)
    record_id = fields.UUIDField(null=True)
    uploaded_by = fields.UUIDField()
    created_at = fields.DatetimeField(auto_now_add=True)
    linked_at = fields.DatetimeField(null=True)
    expires_at = fields.DatetimeField(null=True)

    class Meta:
        table = "attachment"
        indexes = (("tenant_id", "record_id"), ("tenant_id", "expires_at"))


class NumberSequence(TenantModel):
    """The last value handed out by one named document-number sequence in one period."""

    name = fields.CharField(max_length=63)
    period = fields.CharField(max_length=16)
    last_value = fields.BigIntField(default=0)

    class Meta:
        table = "number_sequence"
        unique_together = (("tenant_id", "name", "period"),)


class TenantKey(TenantModel):
    """One wrapped per-tenant key: data (AES-GCM for sensitive fields) or index (HMAC).

    Only the wrapped key is stored (AES key wrap under the master key, base64). Rows are
    never changed or deleted: a new version is a new row.
    """

    purpose = fields.CharField(max_length=16)  # data | index
    version = fields.IntField()
    wrapped_key = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "tenant_key"
        unique_together = (("tenant_id", "purpose", "version"),)


class PluginSetting(TenantModel):
    """One plug-in as a tenant enabled and configured it.

    Secret settings are stored as encrypted envelopes and never shown again. policy holds
    the call path options the tenant chose (timeout, attempts, rate, result reuse days).
    """

    plugin_id = fields.CharField(max_length=100)
    enabled = fields.BooleanField(default=True)
    settings: Any = fields.JSONField(default=dict)
    policy: Any = fields.JSONField(default=dict)
    updated_at = fields.DatetimeField(auto_now=True)
    updated_by = fields.CharField(max_length=200)

    class Meta:
        table = "plugin_setting"
        unique_together = (("tenant_id", "plugin_id"),)


class PluginResult(TenantModel):
    """A normalised plug-in answer, encrypted, kept with the record it was asked for.

    request_hash is a keyed hash (the tenant index key) of the request, so an answer can
    be reused within the tenant window without storing who was asked about in clear.
    """

    plugin_id = fields.CharField(max_length=100)
    operation = fields.CharField(max_length=50)
    request_hash = fields.CharField(max_length=64)
    record_id = fields.CharField(max_length=64, null=True)
    purpose = fields.CharField(max_length=100)
    result = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)
    created_by = fields.CharField(max_length=200)

    class Meta:
        table = "plugin_result"
        indexes = (
            ("tenant_id", "plugin_id", "operation", "request_hash", "created_at"),
            ("tenant_id", "record_id"),
        )


class RecordMigration(TenantModel):
    """One move of a form records from one definition version to a later one.

    The mapping is the declared list of operations; status runs planned, queued, running,
    then done or failed, and a done run may be rolled back (rollback_queued, rolled_back).
    report holds the dry-run or run outcome: counts, affected records, failures by pointer.
    """

    form_id = fields.CharField(max_length=63)
    from_version = fields.IntField()
    to_version = fields.IntField()
    operations: Any = fields.JSONField(default=list)
    status = fields.CharField(max_length=20, default="planned")
    report: Any = fields.JSONField(default=dict)
    affected = fields.IntField(default=0)
    failed = fields.IntField(default=0)
    error = fields.TextField(default="")
    created_by = fields.UUIDField()
    created_at = fields.DatetimeField(auto_now_add=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)
    rolled_back_at = fields.DatetimeField(null=True)
    rolled_back_by = fields.UUIDField(null=True)

    class Meta:
        table = "record_migration"
        indexes = (
            ("tenant_id", "form_id", "created_at"),
            # Department scopes: count and page without reading every record of the form.
            ("tenant_id", "form_id", "department", "created_at"),
        )


class RecordSnapshot(TenantModel):
    """A record as it was before a migration changed it, kept for the rollback.

    data and search_index are copied as stored (sensitive values stay sealed envelopes).
    new_revision is the revision the migration gave the record: a rollback restores only
    records nobody has changed (saved or submitted) since.
    """

    migration_id = fields.UUIDField()
    record_id = fields.UUIDField()
    form_version = fields.IntField()
    status = fields.CharField(max_length=16)
    revision = fields.IntField()
    new_revision = fields.IntField()
    data: Any = fields.JSONField(default=dict)
    search_index: Any = fields.JSONField(default=dict)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "record_snapshot"
        unique_together = (("tenant_id", "migration_id", "record_id"),)


_TREE_ENCODER = msgspec.json.Encoder()
_TREE_DECODER = msgspec.json.Decoder()


def _tree_json(value: Any) -> str:
    """Compact JSON for data that is a tree of dicts, lists, strings, ints, bools and None
    by construction (the workflow state): it decodes to what tortoise's default
    (``json.dumps``) writes, but is several times faster — the state is written after every
    action and its encoding was the largest part of an approval's engine time
    (bench/workflow.py). It also takes the engine's ``State`` itself (msgspec walks
    dataclasses field by field, as ``State.to_json`` does): the same JSON without building
    the dict first, which the store's save after every action spares. Unlike ``json.dumps``
    it writes non-ASCII as UTF-8, not ``\\u`` escapes, and would write a NaN as ``null``:
    the state holds no floats. msgspec, not orjson: installing orjson would switch
    tortoise's default JSON for every model."""
    return _TREE_ENCODER.encode(value).decode()


def _tree_loads(raw: str | bytes) -> Any:
    return _TREE_DECODER.decode(raw)


class WorkflowInstance(TenantModel):
    """One approval of a record, pinned to the compiled plan of its chain.

    ``state`` is the engine state (live tokens, runs and tasks, the path for returns),
    never the history; ``revision`` counts the actions applied. Read from the row it is the
    JSON (``State.from_json`` makes the state of it); the store writes the ``State`` itself,
    which the column encodes as that JSON, and leaves it on the object it wrote.
    """

    workflow_id = fields.CharField(max_length=63)
    definition_version = fields.IntField()
    plan_hash = fields.CharField(max_length=80)
    record_id = fields.UUIDField()
    submitter_id = fields.UUIDField()
    status = fields.CharField(max_length=16)
    state: Any = fields.JSONField(default=dict, encoder=_tree_json, decoder=_tree_loads)
    revision = fields.IntField(default=1)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "workflow_instance"
        indexes = (("tenant_id", "record_id"),)


class WorkflowTask(TenantModel):
    """One live task of an approval; the row goes when the task is done.

    ``version`` grows with every change (delegated, waiting, open again), so an action
    on a version the actor no longer sees is refused as stale.
    """

    instance_id = fields.UUIDField()
    task_key = fields.CharField(max_length=16)
    node_id = fields.CharField(max_length=63)
    user_id = fields.UUIDField()
    kind = fields.CharField(max_length=16)
    status = fields.CharField(max_length=16)
    version = fields.IntField(default=1)
    why = fields.CharField(max_length=200, default="")
    due_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    urged_at = fields.DatetimeField(null=True)
    """When the submitter last urged it (催办 is rate-limited per task)."""

    class Meta:
        table = "workflow_task"
        unique_together = (("tenant_id", "instance_id", "task_key"),)
        indexes = (("tenant_id", "user_id"),)


class WorkflowAction(TenantModel):
    """One action taken on an approval, under the idempotency key its caller gave.

    A repeat of the key answers the stored result; the same key with another request is
    refused. ``facts`` says what happened and why (routes, assignees, decisions).
    """

    instance_id = fields.UUIDField()
    actor_id = fields.UUIDField()
    idempotency_key = fields.CharField(max_length=100)
    request_hash = fields.CharField(max_length=64)
    op = fields.CharField(max_length=32)
    task_key = fields.CharField(max_length=16, null=True)
    revision = fields.IntField()
    result: Any = fields.JSONField(default=dict)
    facts: Any = fields.JSONField(default=list)
    at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "workflow_action"
        unique_together = (("tenant_id", "actor_id", "idempotency_key"),)
        indexes = (("tenant_id", "instance_id", "revision"),)


class WorkflowMigration(TenantModel):
    """One move of the running approvals of a chain from the version they are pinned to
    onto a newer one, with a node mapping (old node id -> new node id or null).

    status runs planned, queued, running, then done (each approval moved or refused on its
    own, see report) or failed (the run itself broke; moved approvals stay moved and a run
    again skips them). report holds the dry run and the run: one entry per approval.
    """

    workflow_id = fields.CharField(max_length=63)
    from_version = fields.IntField()
    to_version = fields.IntField()
    mapping: Any = fields.JSONField(default=dict)
    status = fields.CharField(max_length=20, default="planned")
    report: Any = fields.JSONField(default=dict)
    moved = fields.IntField(default=0)
    failed = fields.IntField(default=0)
    error = fields.TextField(default="")
    created_by = fields.UUIDField()
    created_at = fields.DatetimeField(auto_now_add=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "workflow_migration"
        indexes = (("tenant_id", "workflow_id", "created_at"),)


class WorkflowProxy(TenantModel):
    """A standing proxy (代理): from ``starts_on`` to ``ends_on`` (China dates, inclusive)
    new approval tasks of ``user_id`` go to ``proxy_id``. Revoked, never deleted."""

    user_id = fields.UUIDField()
    proxy_id = fields.UUIDField()
    starts_on = fields.DateField()
    ends_on = fields.DateField()
    created_by = fields.UUIDField()
    created_at = fields.DatetimeField(auto_now_add=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "workflow_proxy"
        indexes = (("tenant_id", "user_id"),)


class Notification(TenantModel):
    """One message to one user (a task given to them, an urge, an approval finished): the
    internal notification list, and what a messaging plug-in sends when one is enabled.

    ``delivery``: ``none`` (no channel enabled), ``pending``, ``sent`` or ``failed``.
    """

    user_id = fields.UUIDField()
    kind = fields.CharField(max_length=32)
    title = fields.CharField(max_length=200)
    body = fields.TextField(default="")
    params: Any = fields.JSONField(default=dict)
    instance_id = fields.UUIDField(null=True)
    read_at = fields.DatetimeField(null=True)
    delivery = fields.CharField(max_length=16, default="none")
    # Why a ``failed`` one was not sent (a code, ``workflow.deliver``); None otherwise.
    delivery_error = fields.CharField(max_length=64, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "notification"
        indexes = (("tenant_id", "user_id", "created_at"),)


class WorkflowTimer(TenantModel):
    """One due time of a live approval task (the due-time table the timer sweep reads):
    a reminder (``remind``, ``step`` its number), the deadline (``timeout``) or a step of
    the escalation ladder (``escalate``, ``step`` its index). Written in the transaction
    that opens the task, cancelled in the one that closes it; the sweep marks it fired
    under the instance lock, so each fires exactly once. Kept, not deleted: the record of
    what fired and when.

    ``status``: ``pending``, ``fired`` or ``cancelled``; ``outcome`` says what firing did.
    """

    instance_id = fields.UUIDField()
    task_key = fields.CharField(max_length=16)
    node_id = fields.CharField(max_length=63)
    kind = fields.CharField(max_length=16)
    step = fields.IntField(default=0)
    fire_at = fields.DatetimeField()
    status = fields.CharField(max_length=16, default="pending")
    outcome = fields.CharField(max_length=200, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    done_at = fields.DatetimeField(null=True)

    class Meta:
        table = "workflow_timer"
        unique_together = (("tenant_id", "instance_id", "task_key", "kind", "step"),)
        indexes = (("tenant_id", "status", "fire_at"),)


class PluginCallback(TenantModel):
    """A vendor notification that passed its signature check, kept once per event.

    The unique event key makes a replayed or retried callback a no-op, so each event is
    applied exactly once.
    """

    plugin_id = fields.CharField(max_length=100)
    event_id = fields.CharField(max_length=64)
    flow_id = fields.CharField(max_length=100)
    action = fields.CharField(max_length=100)
    status = fields.CharField(max_length=16)
    received_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "plugin_callback"
        unique_together = (("tenant_id", "plugin_id", "event_id"),)
        indexes = (("tenant_id", "flow_id", "received_at"),)


class Project(TenantModel):
    """A guarantee project: what a submitted application record became (one per record).

    ``state`` is a code of ``danbao.guarantee.states``; ``version`` is the row version a
    transition must name (optimistic check under the row lock). The regulatory attributes
    are read from the record through the tenant's ``project`` mapping. The borrower's
    certificate number is kept sealed (``borrower_id_sealed``, AES-GCM like record fields)
    and as a keyed hash (``borrower_id_hash``) for per-borrower totals.
    """

    record_id = fields.UUIDField()
    form_id = fields.CharField(max_length=63)
    number = fields.CharField(max_length=64)
    state = fields.CharField(max_length=20)
    version = fields.IntField(default=1)
    business_type = fields.CharField(max_length=32)
    client_type = fields.CharField(max_length=16)
    amount = fields.DecimalField(max_digits=20, decimal_places=2)
    term_months = fields.IntField(null=True)
    fee_rate = fields.DecimalField(max_digits=9, decimal_places=6, null=True)
    lending_bank = fields.CharField(max_length=100, null=True)
    bank_risk_share = fields.DecimalField(max_digits=9, decimal_places=6, default=0)
    borrower_id_hash = fields.CharField(max_length=64)
    borrower_id_sealed = fields.TextField()
    related_group = fields.CharField(max_length=100, null=True)
    industry = fields.CharField(max_length=100, null=True)
    region = fields.CharField(max_length=100, null=True)
    created_by = fields.UUIDField()
    department = fields.CharField(max_length=63, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "project"
        unique_together = (("tenant_id", "record_id"),)
        indexes = (
            ("tenant_id", "state"),
            ("tenant_id", "borrower_id_hash"),
            ("tenant_id", "related_group"),
        )


class ProjectDocument(TenantModel):
    """A contract or guarantee letter issued for a project: rendered from the tenant's
    template, signed, stored (two StoredFiles), with the hashes that make it checkable.

    Keyed to the application record (whose data it prints and whose access rules it
    follows) and to the record's project when it has one (docs/documents.md). A letter
    has a verification token (random, 192 bits) printed as its QR code; ``public`` holds
    exactly what its public page shows, fixed at issue time.
    """

    record_id = fields.UUIDField()
    project_id = fields.UUIDField(null=True)
    form_id = fields.CharField(max_length=63)
    document_id = fields.CharField(max_length=63)  # the declaration: documents/<id>.json
    kind = fields.CharField(max_length=16)  # contract | letter
    number = fields.CharField(max_length=64)
    definition_version = fields.IntField()
    template_sha256 = fields.CharField(max_length=64)
    rendered_sha256 = fields.CharField(max_length=64)
    rendered_file_id = fields.UUIDField()
    signed_sha256 = fields.CharField(max_length=64)
    signed_file_id = fields.UUIDField()
    signed_with = fields.CharField(max_length=100)  # the e-signature plug-in
    flow_id = fields.CharField(max_length=100)
    verify_token = fields.CharField(max_length=64, null=True)
    status = fields.CharField(max_length=16, default="valid")  # valid | released | revoked
    public: Any = fields.JSONField(default=dict)
    # The form fields the template printed: who may read the PDF must be allowed to see them.
    fields_used: Any = fields.JSONField(default=list)
    issued_by = fields.UUIDField()
    issued_at = fields.DatetimeField(auto_now_add=True)
    status_changed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "project_document"
        unique_together = (("tenant_id", "number"), ("tenant_id", "verify_token"))
        indexes = (("tenant_id", "record_id", "issued_at"), ("tenant_id", "project_id"))


class ServiceTicket(TenantModel):
    """A service ticket (服务工单) on a project, opened by its applicant or by staff.

    ``status`` is a code of ``danbao.tickets.states``; ``version`` is the row version an
    update must name. The due times are fixed when the ticket opens (priority's SLA on
    the tenant's working calendar); ``first_response_at`` is the first staff reply the
    opener could see.
    """

    project_id = fields.UUIDField()
    number = fields.CharField(max_length=64)
    subject = fields.CharField(max_length=200)
    category = fields.CharField(max_length=32)
    priority = fields.CharField(max_length=16)
    status = fields.CharField(max_length=24)
    version = fields.IntField(default=1)
    opened_by_kind = fields.CharField(max_length=16)
    opened_by = fields.UUIDField()
    assignee_id = fields.UUIDField(null=True)
    respond_due_at = fields.DatetimeField()
    resolve_due_at = fields.DatetimeField()
    first_response_at = fields.DatetimeField(null=True)
    resolved_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    respond_alerted_at = fields.DatetimeField(null=True)
    resolve_alerted_at = fields.DatetimeField(null=True)
    """When the sweep announced a breach of each due time (once each)."""

    class Meta:
        table = "service_ticket"
        unique_together = (("tenant_id", "number"),)
        indexes = (
            ("tenant_id", "project_id", "created_at"),
            ("tenant_id", "assignee_id", "status"),
        )


class TicketReply(TenantModel):
    """One message on a ticket. ``internal`` notes are for staff only, never the applicant."""

    ticket_id = fields.UUIDField()
    author_kind = fields.CharField(max_length=16)
    author_id = fields.UUIDField()
    body = fields.TextField()
    internal = fields.BooleanField(default=False)
    at = fields.DatetimeField()

    class Meta:
        table = "ticket_reply"
        indexes = (("tenant_id", "ticket_id", "at"),)


class CounterGuarantee(TenantModel):
    """One counter-guarantee (反担保) of a project: a mortgage (抵押), a pledge (质押) or a
    third-party guarantee (保证), with its valuation, haircut (折扣率), registration state
    and certificate. Coverage = Σ valuation × (1 − haircut) ÷ guaranteed amount
    (``guarantee.counter``). Released (注销) when the project is released."""

    project_id = fields.UUIDField()
    kind = fields.CharField(max_length=16)  # mortgage | pledge | guarantee
    asset = fields.CharField(max_length=32)  # real_estate, vehicle, …, company, person
    description = fields.CharField(max_length=500)
    owner = fields.CharField(max_length=200)  # 抵押人 / 出质人 / 保证人
    valuation = fields.DecimalField(max_digits=20, decimal_places=2)
    haircut = fields.DecimalField(max_digits=9, decimal_places=6)
    registration = fields.CharField(max_length=16, default="unregistered")
    certificate_no = fields.CharField(max_length=100, null=True)
    registered_on = fields.DateField(null=True)
    version = fields.IntField(default=1)
    created_by = fields.UUIDField()
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    released_at = fields.DatetimeField(null=True)

    class Meta:
        table = "counter_guarantee"
        indexes = (("tenant_id", "project_id"),)


class ProjectLoan(TenantModel):
    """The bank's disbursement (放款) of a project's loan and how it is repaid: one per
    project. ``principal_outstanding`` moves with every repayment under the row lock
    (``guarantee.loan.outstanding``)."""

    project_id = fields.UUIDField()
    disbursed_on = fields.DateField()
    amount = fields.DecimalField(max_digits=20, decimal_places=2)
    bank_reference = fields.CharField(max_length=100)
    method = fields.CharField(max_length=24)  # equal_principal | bullet | equal_installment
    annual_rate = fields.DecimalField(max_digits=9, decimal_places=6, null=True)
    periods = fields.IntField()
    principal_outstanding = fields.DecimalField(max_digits=20, decimal_places=2)
    release_notice = fields.CharField(max_length=100, null=True)  # the bank's 解保通知
    release_notice_on = fields.DateField(null=True)
    created_by = fields.UUIDField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "project_loan"
        unique_together = (("tenant_id", "project_id"),)


class LoanInstallment(TenantModel):
    """One line of a loan's repayment schedule (还款计划): principal and interest due on a
    date, and how much principal has been paid against it."""

    project_id = fields.UUIDField()
    seq = fields.IntField()
    due_on = fields.DateField()
    principal = fields.DecimalField(max_digits=20, decimal_places=2)
    interest = fields.DecimalField(max_digits=20, decimal_places=2, default=0)
    principal_paid = fields.DecimalField(max_digits=20, decimal_places=2, default=0)
    settled_on = fields.DateField(null=True)

    class Meta:
        table = "loan_installment"
        unique_together = (("tenant_id", "project_id", "seq"),)


class LoanRepayment(TenantModel):
    """A repayment the borrower made (还款), scheduled or early, and the balance after it."""

    project_id = fields.UUIDField()
    paid_on = fields.DateField()
    principal = fields.DecimalField(max_digits=20, decimal_places=2)
    interest = fields.DecimalField(max_digits=20, decimal_places=2, default=0)
    early = fields.BooleanField(default=False)
    reference = fields.CharField(max_length=100, default="")
    outstanding_after = fields.DecimalField(max_digits=20, decimal_places=2)
    created_by = fields.UUIDField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "loan_repayment"
        indexes = (("tenant_id", "project_id", "paid_on"),)


class AftercareTask(TenantModel):
    """A post-loan task (保后任务): a visit (保后检查) or a document renewal, generated on
    the tenant's rules (tenant.json ``aftercare``) when the loan is disbursed."""

    project_id = fields.UUIDField()
    rule_id = fields.CharField(max_length=63)
    kind = fields.CharField(max_length=16)  # visit | renewal
    title: Any = fields.JSONField(default=dict)  # {"zh-CN": …, "en": …} from the rule
    due_on = fields.DateField()
    status = fields.CharField(max_length=16, default="open")  # open | done | cancelled
    note = fields.TextField(default="")
    done_by = fields.UUIDField(null=True)
    done_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "aftercare_task"
        unique_together = (("tenant_id", "project_id", "rule_id", "due_on"),)
        indexes = (("tenant_id", "status", "due_on"),)


class Applicant(TenantModel):
    """A customer of the portal (docs/portal.md), apart from staff users.

    Identified by a mobile number or an e-mail address, kept as a keyed hash
    (``destination_hash``, to find the applicant at sign-in) and sealed
    (``destination_sealed``, to send the next code); never in clear. ``user_id`` is the
    applicant's own record-owner identity: an inactive ``app_user`` with no role, so the
    records and uploads the applicant makes are theirs and no staff route accepts it.
    """

    user_id = fields.UUIDField()
    channel = fields.CharField(max_length=8)  # mobile | email
    destination_hash = fields.CharField(max_length=64)
    destination_sealed = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)
    last_login_at = fields.DatetimeField(null=True)

    class Meta:
        table = "applicant"
        unique_together = (("tenant_id", "destination_hash"),)


class ApplicantCode(TenantModel):
    """A one-time sign-in code sent to a destination: its hash, expiry, attempts, use."""

    destination_hash = fields.CharField(max_length=64)
    destination_sealed = fields.TextField()
    channel = fields.CharField(max_length=8)
    code_hash = fields.CharField(max_length=64)
    attempts = fields.IntField(default=0)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    ip = fields.CharField(max_length=45, null=True)

    class Meta:
        table = "applicant_code"
        indexes = (("tenant_id", "destination_hash", "created_at"),)


class ApplicantSession(TenantModel):
    """A signed-in applicant's browser: the portal cookie holds a token, the row its hash."""

    applicant_id = fields.UUIDField()
    token_hash = fields.CharField(max_length=64)
    csrf_token = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()
    ip = fields.CharField(max_length=45, null=True)
    user_agent = fields.CharField(max_length=300, null=True)

    class Meta:
        table = "applicant_session"
        unique_together = (("tenant_id", "token_hash"),)


class ProjectOverdue(TenantModel):
    """The bank's overdue notice for a project: what the guarantor is obliged to pay and
    has not yet paid (逾期未代偿). ``open`` until the borrower pays (``cured``) or the
    guarantor compensates (``compensated``); at most one is open per project."""

    project_id = fields.UUIDField()
    notice_ref = fields.CharField(max_length=100)
    notice_date = fields.DateField()
    overdue_since = fields.DateField()
    days_overdue = fields.IntField()
    principal = fields.DecimalField(max_digits=20, decimal_places=2)
    interest = fields.DecimalField(max_digits=20, decimal_places=2)
    obliged = fields.DecimalField(max_digits=20, decimal_places=2)  # principal + interest
    status = fields.CharField(max_length=16, default="open")  # open | cured | compensated
    cured_on = fields.DateField(null=True)
    created_by = fields.UUIDField()
    created_at = fields.DatetimeField(auto_now_add=True)
    closed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "project_overdue"
        indexes = (("tenant_id", "project_id"), ("tenant_id", "status"))


class ProjectCompensation(TenantModel):
    """The guarantor's payment to the bank (代偿) for an overdue notice, carried by an
    approved approval; one per project, never changed (append-only)."""

    project_id = fields.UUIDField()
    overdue_id = fields.UUIDField()
    approval_id = fields.UUIDField()
    amount = fields.DecimalField(max_digits=20, decimal_places=2)
    paid_on = fields.DateField()
    bank_receipt_ref = fields.CharField(max_length=100)
    created_by = fields.UUIDField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "project_compensation"
        unique_together = (("tenant_id", "project_id"),)


class ProjectRecovery(TenantModel):
    """One recovery action (追偿) after compensation: a demand, a lawsuit, an enforcement,
    or the disposal of collateral; ``open`` while it runs, then ``closed``."""

    project_id = fields.UUIDField()
    kind = fields.CharField(
        max_length=24
    )  # demand | litigation | enforcement | collateral_disposal
    status = fields.CharField(max_length=16, default="open")  # open | closed
    started_on = fields.DateField()
    reference = fields.CharField(max_length=100, null=True)  # case number, letter number
    note = fields.TextField(default="")
    closed_on = fields.DateField(null=True)
    outcome = fields.TextField(default="")
    created_by = fields.UUIDField()
    created_at = fields.DatetimeField(auto_now_add=True)
    closed_by = fields.UUIDField(null=True)

    class Meta:
        table = "project_recovery"
        indexes = (("tenant_id", "project_id"),)


class ProjectRecoveryReceipt(TenantModel):
    """An amount recovered by a recovery action, on a date; never changed (append-only).
    The project's receipts never sum to more than its compensation."""

    project_id = fields.UUIDField()
    recovery_id = fields.UUIDField()
    amount = fields.DecimalField(max_digits=20, decimal_places=2)
    received_on = fields.DateField()
    reference = fields.CharField(max_length=100, null=True)
    created_by = fields.UUIDField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "project_recovery_receipt"
        indexes = (("tenant_id", "project_id"), ("tenant_id", "recovery_id"))


class ProjectWriteOff(TenantModel):
    """The loss recognised (损失核销): compensated − recovered at the time, with the
    evidence the regulator's definition of a loss requires; one per project, append-only."""

    project_id = fields.UUIDField()
    approval_id = fields.UUIDField()
    compensated = fields.DecimalField(max_digits=20, decimal_places=2)
    recovered = fields.DecimalField(max_digits=20, decimal_places=2)
    loss = fields.DecimalField(max_digits=20, decimal_places=2)
    written_off_on = fields.DateField()
    basis = fields.CharField(max_length=24)  # judgment | award_enforcement | other
    evidence: Any = fields.JSONField(default=list)
    created_by = fields.UUIDField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "project_write_off"
        unique_together = (("tenant_id", "project_id"),)


TENANT_OWNED: tuple[type[TenantModel], ...] = (
    User,
    Session,
    ApiToken,
    DefinitionVersion,
    AuditHead,
    AuditEvent,
    StoredFile,
    Record,
    NumberSequence,
    TenantKey,
    PluginSetting,
    PluginResult,
    RecordMigration,
    RecordSnapshot,
    PluginCallback,
    Attachment,
    WorkflowInstance,
    WorkflowTask,
    WorkflowAction,
    Project,
    ProjectDocument,
    WorkflowProxy,
    Notification,
    WorkflowTimer,
    ServiceTicket,
    TicketReply,
    CounterGuarantee,
    ProjectLoan,
    LoanInstallment,
    LoanRepayment,
    AftercareTask,
    Applicant,
    ApplicantCode,
    ApplicantSession,
    WorkflowMigration,
    ProjectOverdue,
    ProjectCompensation,
    ProjectRecovery,
    ProjectRecoveryReceipt,
    ProjectWriteOff,
)
"""Every tenant-owned model; the migrations and the wall tests iterate over it."""
