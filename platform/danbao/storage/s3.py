"""Object storage on S3 or an S3-compatible server (production).

Every object lives under ``tenants/<tenant_id>/`` in one bucket. boto3 is synchronous,
so each call runs in a worker thread; a boto3 client is safe to share between threads.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import IO, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from danbao.config import S3Settings
from danbao.storage.base import (
    CHUNK_BYTES,
    ObjectNotFound,
    StoredObject,
    check_expiry,
    describe,
    tenant_prefix,
    validate_key,
    validate_prefix,
)

_MISSING = {"NoSuchKey", "404", "NotFound"}


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3Store:
    def __init__(self, settings: S3Settings) -> None:
        self.bucket = settings.bucket
        self._region = settings.region
        # A custom endpoint (MinIO, moto, a domestic cloud) rarely has wildcard DNS for
        # virtual-hosted buckets; path-style addressing works everywhere.
        style = "path" if settings.endpoint_url else "auto"
        self._client = boto3.session.Session().client(
            "s3",
            endpoint_url=settings.endpoint_url,
            region_name=settings.region,
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=settings.secret_access_key,
            config=Config(signature_version="s3v4", s3={"addressing_style": style}),
        )

    def _full_key(self, key: str) -> str:
        return tenant_prefix() + validate_key(key)

    async def put(self, key: str, data: bytes, content_type: str) -> StoredObject:
        stored = describe(key, data, content_type)
        await asyncio.to_thread(
            self._client.put_object,
            Bucket=self.bucket,
            Key=self._full_key(key),
            Body=bytes(data),
            ContentType=content_type,
            Metadata={"sha256": stored.sha256},
        )
        return stored

    async def put_file(
        self, key: str, source: IO[bytes], *, content_type: str, sha256: str
    ) -> None:
        # upload_fileobj switches to a multipart upload for large files on its own.
        await asyncio.to_thread(
            self._client.upload_fileobj,
            source,
            self.bucket,
            self._full_key(key),
            ExtraArgs={"ContentType": content_type, "Metadata": {"sha256": sha256}},
        )

    async def open_stream(self, key: str) -> AsyncIterator[bytes]:
        full_key = self._full_key(key)
        try:
            response = await asyncio.to_thread(
                self._client.get_object, Bucket=self.bucket, Key=full_key
            )
        except ClientError as exc:
            if _error_code(exc) in _MISSING:
                raise ObjectNotFound(key) from None
            raise
        return _chunks(response["Body"])

    async def get(self, key: str) -> bytes:
        full_key = self._full_key(key)

        def read() -> bytes:
            response = self._client.get_object(Bucket=self.bucket, Key=full_key)
            body: bytes = response["Body"].read()
            return body

        try:
            return await asyncio.to_thread(read)
        except ClientError as exc:
            if _error_code(exc) in _MISSING:
                raise ObjectNotFound(key) from None
            raise

    async def delete(self, key: str) -> None:
        full_key = self._full_key(key)
        await asyncio.to_thread(self._client.delete_object, Bucket=self.bucket, Key=full_key)

    async def list(self, prefix: str = "") -> list[str]:
        validate_prefix(prefix)
        tenant = tenant_prefix()

        def scan() -> list[str]:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=tenant + prefix
            )
            return [
                item["Key"][len(tenant) :] for page in pages for item in page.get("Contents", [])
            ]

        return await asyncio.to_thread(scan)

    async def presigned_url(self, key: str, expires_seconds: int = 300) -> str | None:
        full_key = self._full_key(key)
        url: str = await asyncio.to_thread(
            self._client.generate_presigned_url,
            "get_object",
            Params={"Bucket": self.bucket, "Key": full_key},
            ExpiresIn=check_expiry(expires_seconds),
        )
        return url

    async def iter_objects(self) -> AsyncIterator[tuple[str, bytes]]:
        for key in await self.list():
            try:
                yield key, await self.get(key)
            except ObjectNotFound:
                continue  # deleted while the export ran

    async def health(self) -> dict[str, Any]:
        try:
            await asyncio.to_thread(self._client.head_bucket, Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            return {"ok": False, "detail": f"bucket {self.bucket}: {type(exc).__name__}: {exc}"}
        return {"ok": True, "detail": f"bucket {self.bucket} reachable"}

    async def ensure_bucket(self) -> None:
        """Create the bucket if it is missing (tests and ``danbao migrate``; never at runtime)."""
        await asyncio.to_thread(self._ensure_bucket)

    def _ensure_bucket(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if _error_code(exc) not in _MISSING | {"NoSuchBucket"}:
                raise
        options: dict[str, Any] = {"Bucket": self.bucket}
        if self._region != "us-east-1":  # S3 refuses an explicit us-east-1 constraint
            options["CreateBucketConfiguration"] = {"LocationConstraint": self._region}
        try:
            self._client.create_bucket(**options)
        except ClientError as exc:
            if _error_code(exc) != "BucketAlreadyOwnedByYou":
                raise


async def _chunks(body: Any) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(body.read, CHUNK_BYTES):
            yield chunk
    finally:
        body.close()
