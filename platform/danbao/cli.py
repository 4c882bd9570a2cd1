"""The ``danbao`` command: serving, migrating, validating, and the operator's tenant tools."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from danbao.config import Settings, load_settings

if TYPE_CHECKING:
    from danbao.crypto.tenant_keys import TenantKeys

Command = Callable[[argparse.Namespace, Settings], Awaitable[int]]


def _operator() -> str:
    return os.environ.get("DANBAO_OPERATOR") or getpass.getuser()


async def _with_owner_db(settings: Settings, work: Callable[[], Awaitable[int]]) -> int:
    """Operator commands connect as the owner (they write the global tenant table)."""
    from danbao.db.setup import close_db, open_db

    await open_db(settings, "owner")
    try:
        return await work()
    finally:
        await close_db()


async def _announce(settings: Settings, tenant_id: str) -> None:
    """Tell the serving processes at once; without Redis they notice within a minute."""
    if not settings.redis_url:
        return
    from redis.asyncio import Redis

    from danbao.authz.propagation import announce

    redis = Redis.from_url(settings.redis_url)
    try:
        await announce(redis, tenant_id)
    finally:
        await redis.aclose()


async def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from danbao.db.setup import run_migrations

    await run_migrations(settings)
    print(f"migrated ({settings.mode})")
    return 0


async def cmd_validate(args: argparse.Namespace, settings: Settings) -> int:
    from danbao.definitions import BundleInvalid, load_bundle

    try:
        bundle = load_bundle(Path(args.dir))
    except BundleInvalid as invalid:
        for error in invalid.errors:
            print(error, file=sys.stderr)
        print(f"{len(invalid.errors)} error(s)", file=sys.stderr)
        return 1
    print(f"ok: {args.dir} ({bundle.content_hash})")
    return 0


async def cmd_tenant_create(args: argparse.Namespace, settings: Settings) -> int:
    from danbao.provisioning import create_tenant

    async def work() -> int:
        tenant, version = await create_tenant(
            args.slug,
            Path(args.bundle or settings.tenants_dir / "_template"),
            admin_email=args.admin_email,
            admin_password=args.admin_password,
            operator=_operator(),
            name=args.name,
        )
        print(f"created {tenant.slug} ({tenant.name}), definitions version {version}")
        return 0

    return await _with_owner_db(settings, work)


async def cmd_plugins_list(args: argparse.Namespace, settings: Settings) -> int:
    from danbao.plugins import catalog

    print(f"{'id':<28} {'kind':<18} {'sandbox':<8} title")
    for plugin_id, plugin in catalog.installed().items():
        sandbox = "yes" if plugin.sandbox else "no"
        print(
            f"{plugin_id:<28} {plugin.kind:<18} {sandbox:<8} {plugin.title.zh} / {plugin.title.en}"
        )
    return 0


async def cmd_tenant_list(args: argparse.Namespace, settings: Settings) -> int:
    from danbao.db.models import Tenant
    from danbao.provisioning import latest_version_number

    async def work() -> int:
        print(f"{'slug':<20} {'status':<10} {'version':>7}  name")
        for tenant in await Tenant.all().order_by("slug"):
            version = await latest_version_number(tenant)
            print(f"{tenant.slug:<20} {tenant.status:<10} {version or '-':>7}  {tenant.name}")
        return 0

    return await _with_owner_db(settings, work)


async def cmd_tenant_apply(args: argparse.Namespace, settings: Settings) -> int:
    from danbao.provisioning import apply_bundle

    async def work() -> int:
        number, created = await apply_bundle(args.slug, Path(args.dir), operator=_operator())
        print(number if created else f"{number} (unchanged)")
        return 0

    return await _with_owner_db(settings, work)


def _status_command(suspend: bool) -> Command:
    async def command(args: argparse.Namespace, settings: Settings) -> int:
        from danbao.provisioning import set_status

        async def work() -> int:
            reason = getattr(args, "reason", "") or ""
            tenant = await set_status(
                args.slug, suspend=suspend, operator=_operator(), reason=reason
            )
            await _announce(settings, str(tenant.id))
            print(f"{tenant.slug}: {tenant.status}")
            return 0

        return await _with_owner_db(settings, work)

    return command


async def cmd_tenant_export(args: argparse.Namespace, settings: Settings) -> int:
    from danbao.export import export_tenant
    from danbao.provisioning import get_tenant
    from danbao.storage import open_store

    async def work() -> int:
        tenant = await get_tenant(args.slug)
        out = Path(args.out or f"{tenant.slug}-export.tar.gz")
        files = await export_tenant(tenant, out, open_store(settings), operator=_operator())
        print(f"exported {tenant.slug} to {out} ({files} files)")
        return 0

    return await _with_owner_db(settings, work)


async def cmd_tenant_versions(args: argparse.Namespace, settings: Settings) -> int:
    from tortoise.transactions import in_transaction

    from danbao.definitions.versions import diff_versions, list_versions
    from danbao.provisioning import get_tenant, operator_context
    from danbao.tenancy.context import tenant_scope

    async def work() -> int:
        tenant = await get_tenant(args.slug)
        with tenant_scope(operator_context(tenant, _operator())):
            async with in_transaction():
                if args.diff:
                    for change in await diff_versions(args.diff[0], args.diff[1]):
                        print(f"{change.op:<8} {change.file}:{change.pointer}")
                    return 0
                for v in await list_versions():
                    print(
                        f"{v.number:>4}  {v.published_at:%Y-%m-%d %H:%M}  {v.content_hash[:19]}  "
                        f"{v.published_by}  {v.note}"
                    )
        return 0

    return await _with_owner_db(settings, work)


async def cmd_operator_create(args: argparse.Namespace, settings: Settings) -> int:
    from danbao.auth.operators import create_operator

    password = args.password
    if password is None:  # prompted, so it stays out of the shell history and `ps`
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            print("error: the passwords differ", file=sys.stderr)
            return 1

    async def work() -> int:
        operator = await create_operator(args.email, args.name, password)
        print(f"created operator {operator.email} ({operator.name})")
        return 0

    return await _with_owner_db(settings, work)


async def cmd_audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    from danbao.audit import verify_chain
    from danbao.provisioning import get_tenant, operator_context
    from danbao.tenancy.context import tenant_scope

    async def work() -> int:
        tenant = await get_tenant(args.slug)
        with tenant_scope(operator_context(tenant, _operator())):
            report = await verify_chain()
        print(report.describe(), file=sys.stdout if report.ok else sys.stderr)
        return 0 if report.ok else 2

    return await _with_owner_db(settings, work)


async def cmd_demo_load(args: argparse.Namespace, settings: Settings) -> int:
    from danbao.crypto.master_key import load_master_key
    from danbao.crypto.tenant_keys import TenantKeys
    from danbao.db.setup import run_migrations
    from danbao.demo import load_demo
    from danbao.storage import open_store

    await run_migrations(settings)
    keys = TenantKeys(load_master_key(settings))
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    site = f"http://{host}:{getattr(args, 'port', None) or settings.port}"

    async def work() -> int:
        store = open_store(settings)
        for line in await load_demo(settings.tenants_dir, keys=keys, store=store, site=site):
            print(f"demo {line}")
        return 0

    return await _with_owner_db(settings, work)


def _key_ring(settings: Settings) -> TenantKeys:
    from danbao.crypto.master_key import load_master_key, load_previous_master_key
    from danbao.crypto.tenant_keys import TenantKeys

    master = load_master_key(settings)
    return TenantKeys(master, settings.tenant_cache_size, load_previous_master_key(settings))


def _key_command(action: str) -> Command:
    """``tenant rotate-key`` and ``tenant reencrypt``: the job runs on the arq workers when
    Redis is configured, else here, in this process, before the command returns."""

    async def command(args: argparse.Namespace, settings: Settings) -> int:
        from danbao.jobs import InlineQueue, open_queue
        from danbao.key_rotation import reencrypt_tenant, rotate_data_key
        from danbao.records import reencrypt

        keys = _key_ring(settings)
        queue = open_queue(settings)
        reencrypt.configure(keys, queue)
        start = rotate_data_key if action == "rotate" else reencrypt_tenant

        async def work() -> int:
            try:
                done = await start(args.slug, keys, queue, operator=_operator(), batch=args.batch)
                await _announce(settings, done.tenant_id)
                print(f"{args.slug}: data key version {done.version}")
                if isinstance(queue, InlineQueue):
                    await queue.drain()
                    if queue.failures:
                        print(
                            f"error: re-encryption failed: {queue.failures[-1].error}",
                            file=sys.stderr,
                        )
                        return 1
                    print(f"{args.slug}: records re-encrypted under version {done.version}")
                else:
                    print(f"{args.slug}: re-encryption queued for the workers ({done.job_id})")
                return 0
            finally:
                await queue.close()

        return await _with_owner_db(settings, work)

    return command


async def cmd_keys_rewrap(args: argparse.Namespace, settings: Settings) -> int:
    from danbao.crypto.master_key import load_master_key, load_previous_master_key
    from danbao.key_rotation import RewrapError, rewrap_tenant_keys

    old = load_previous_master_key(settings)
    if old is None:
        print(
            "error: set DANBAO_MASTER_KEY_PREVIOUS to the retiring master key and "
            "DANBAO_MASTER_KEY to the new one",
            file=sys.stderr,
        )
        return 1
    new = load_master_key(settings)

    async def work() -> int:
        try:
            report = await rewrap_tenant_keys(old, new, operator=_operator())
        except RewrapError as exc:
            print(f"error: {exc} (that tenant's keys are unchanged)", file=sys.stderr)
            return 1
        print(
            f"{report.tenants} tenants: {report.rewrapped} keys rewrapped, "
            f"{report.already} already under the new master key"
        )
        return 0

    return await _with_owner_db(settings, work)


async def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from danbao.db.setup import close_db, open_db
    from danbao.guarantee import warning_sweep  # registers the early-warning job, too
    from danbao.jobs.worker import run_worker
    from danbao.records import attachment_purge, migration_job  # noqa: F401 - register jobs
    from danbao.workflow import migration_job as _workflow_migrations  # noqa: F401
    from danbao.workflow import sweep  # registers the timer job, too

    if not settings.redis_url:
        print(
            "DANBAO_REDIS_URL is not set: the embedded mode runs jobs in-process", file=sys.stderr
        )
        return 1

    from danbao.jobs import ArqQueue
    from danbao.plugins.gateway import PluginGateway
    from danbao.records import reencrypt

    queue = ArqQueue(settings.redis_url)
    keys = _key_ring(settings)
    reencrypt.configure(keys, queue)  # registers the job, too
    gateway = PluginGateway(keys, redis_url=settings.redis_url)
    sweep.configure(keys, gateway)

    async def startup(ctx: dict[str, Any]) -> None:
        await open_db(settings, "app")

    async def shutdown(ctx: dict[str, Any]) -> None:
        await queue.close()
        await gateway.aclose()
        await close_db()

    # The long-running worker ticks the approval timers every minute and the guarantees'
    # early warning every night (burst workers do not).
    await run_worker(
        settings.redis_url,
        on_startup=startup,
        on_shutdown=shutdown,
        cron_jobs=[sweep.cron_job(queue), warning_sweep.cron_job(queue)],
    )
    return 0


def serve(settings: Settings, host: str | None, port: int | None) -> int:
    import uvicorn

    from danbao.web.app import create_app

    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
        proxy_headers=True,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="danbao", description="Danbao 担保云")
    sub = parser.add_subparsers(dest="command", required=True)

    for name, help_text in (("serve", "serve the web app"), ("demo", "migrate, load demos, serve")):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--host")
        p.add_argument("--port", type=int)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(run=cmd_migrate)
    sub.add_parser("demo-load", help="migrate and load the demo tenants").set_defaults(
        run=cmd_demo_load
    )
    sub.add_parser("worker", help="run an arq job worker").set_defaults(run=cmd_worker)
    p = sub.add_parser("validate", help="validate a definition bundle folder")
    p.add_argument("dir")
    p.set_defaults(run=cmd_validate)

    plugins = sub.add_parser("plugins", help="installed plug-ins").add_subparsers(
        dest="plugins_command", required=True
    )
    plugins.add_parser(
        "list", help="list installed plug-ins (entry points danbao.plugins)"
    ).set_defaults(run=cmd_plugins_list)

    tenant = sub.add_parser("tenant", help="operator tools").add_subparsers(
        dest="tenant_command", required=True
    )
    p = tenant.add_parser("create", help="provision a tenant from a bundle")
    p.add_argument("slug")
    p.add_argument("--bundle", help="bundle folder (default: tenants/_template)")
    p.add_argument("--admin-email", required=True)
    p.add_argument("--admin-password", required=True)
    p.add_argument("--name", help="display name (default: from tenant.json)")
    p.set_defaults(run=cmd_tenant_create)
    tenant.add_parser("list", help="list tenants").set_defaults(run=cmd_tenant_list)
    p = tenant.add_parser("apply", help="publish a bundle as the next version")
    p.add_argument("slug")
    p.add_argument("dir")
    p.set_defaults(run=cmd_tenant_apply)
    p = tenant.add_parser("suspend", help="suspend a tenant")
    p.add_argument("slug")
    p.add_argument("--reason", default="")
    p.set_defaults(run=_status_command(True))
    p = tenant.add_parser("resume", help="resume a suspended tenant")
    p.add_argument("slug")
    p.set_defaults(run=_status_command(False))
    p = tenant.add_parser("export", help="export a tenant's records and files as tar.gz")
    p.add_argument("slug")
    p.add_argument("--out")
    p.set_defaults(run=cmd_tenant_export)
    p = tenant.add_parser("versions", help="list definition versions, or diff two")
    p.add_argument("slug")
    p.add_argument("--diff", nargs=2, type=int, metavar=("FROM", "TO"))
    p.set_defaults(run=cmd_tenant_versions)
    p = tenant.add_parser(
        "rotate-key", help="add a new data-key version and re-encrypt the records under it"
    )
    p.add_argument("slug")
    p.add_argument("--batch", type=int, default=200, help="records per transaction")
    p.set_defaults(run=_key_command("rotate"))
    p = tenant.add_parser(
        "reencrypt", help="re-encrypt records still under an older data key (resume)"
    )
    p.add_argument("slug")
    p.add_argument("--batch", type=int, default=200, help="records per transaction")
    p.set_defaults(run=_key_command("reencrypt"))

    keys = sub.add_parser("keys", help="master key tools").add_subparsers(
        dest="keys_command", required=True
    )
    keys.add_parser(
        "rewrap",
        help="rewrap every tenant key from DANBAO_MASTER_KEY_PREVIOUS to DANBAO_MASTER_KEY",
    ).set_defaults(run=cmd_keys_rewrap)

    operator = sub.add_parser("operator", help="operator accounts").add_subparsers(
        dest="operator_command", required=True
    )
    p = operator.add_parser("create", help="create an operator of the console at /ops")
    p.add_argument("email")
    p.add_argument("--name", required=True)
    p.add_argument("--password", help="prompted for when omitted")
    p.set_defaults(run=cmd_operator_create)

    audit = sub.add_parser("audit", help="audit trail tools").add_subparsers(
        dest="audit_command", required=True
    )
    p = audit.add_parser("verify", help="verify a tenant's hash chain")
    p.add_argument("slug")
    p.set_defaults(run=cmd_audit_verify)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = load_settings()
    from danbao.logs import configure_logging

    configure_logging(settings.log_level)
    if args.command == "serve":
        return serve(settings, args.host, args.port)
    if args.command == "demo":
        code = asyncio.run(cmd_demo_load(args, settings))
        return code or serve(settings, args.host, args.port)
    try:
        return asyncio.run(args.run(args, settings))
    except Exception as exc:  # operator-facing: one clear line, not a traceback
        from danbao.definitions import BundleInvalid

        if isinstance(exc, BundleInvalid):
            for error in exc.errors:
                print(error, file=sys.stderr)
            return 1
        from danbao.provisioning import ProvisioningError
        from danbao.tenancy.registry import InvalidSlug

        if isinstance(exc, ProvisioningError | InvalidSlug | ValueError):
            print(f"error: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
