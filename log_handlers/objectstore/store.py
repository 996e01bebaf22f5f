"""The one place that talks to object storage, through fsspec: put, list, stream."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from airglow.log_handlers.errors import LogConfigError, StoreError, is_refusal
from airglow.log_handlers.redact import redact

# Reads go 1 MiB at a time: the reader's memory stays flat whatever the log's size (bench/log_transfer.py).
READ_BLOCK = 1 << 20
_LOCAL_PROTOCOLS = {"file", "local"}


class ObjectStore:
    """Objects under one base URL (``s3://bucket/prefix``, ``gs://``, ``abfs://``, ``file://``, ``memory://``).

    Keys are relative to the base URL; every failure is a ``StoreError`` whose text has no credentials.
    fsspec's listing cache is dropped before every list and open: logs grow while they are read.
    """

    def __init__(self, url: str, storage_options: Mapping[str, Any] | None = None) -> None:
        options = dict(storage_options or {})
        protocol = url.split("://", 1)[0] if "://" in url else "file"
        if protocol in _LOCAL_PROTOCOLS:
            options.setdefault("auto_mkdir", True)
        try:
            import fsspec  # the `logs` extra (or s3, gcs, azure): not every Airglow install has it
        except ImportError:
            raise LogConfigError(
                "remote_base_log_folder", "object-store logs need fsspec: pip install 'airglow[logs]'"
            ) from None
        try:
            self._fs, root = fsspec.core.url_to_fs(url, **options)
        except (ImportError, ValueError, TypeError) as err:
            raise LogConfigError("remote_base_log_folder", f"{redact(url)}: {redact(str(err))}") from err
        self._root = root.rstrip("/")
        self._local = protocol in _LOCAL_PROTOCOLS
        self.url = redact(url.rstrip("/"))

    def location(self, key: str) -> str:
        """A displayable URL of ``key`` (credentials removed)."""
        return f"{self.url}/{key}"

    def put(self, key: str, data: bytes) -> None:
        """Write one immutable object; on local disks through a rename so readers never see half of it."""
        path = self._path(key)
        try:
            if self._local:
                temporary = f"{path}.{uuid.uuid4().hex}.tmp"
                self._fs.pipe_file(temporary, data)
                self._fs.mv(temporary, path)
            else:
                self._fs.pipe_file(path, data)
        except Exception as err:
            raise StoreError("put", self.location(key), err) from None

    def put_stream(self, key: str, blocks: Iterable[bytes]) -> None:
        """Write one object from ``blocks`` with constant memory (a multipart or resumable upload on object
        stores: the object appears whole when the last block is written). When ``blocks`` fails, nothing is
        written: fsspec's files commit what they hold when closed, so the upload is discarded instead."""
        try:
            handle = self._fs.open(self._path(key), "wb")
        except Exception as err:
            raise StoreError("put", self.location(key), err) from None
        try:
            for block in blocks:
                handle.write(block)
        except BaseException as err:
            handle.discard()
            handle.closed = True  # close() would commit a truncated object
            if isinstance(err, StoreError) or not isinstance(err, Exception):
                raise
            raise StoreError("put", self.location(key), err) from None
        try:
            handle.close()
        except Exception as err:
            raise StoreError("put", self.location(key), err) from None

    def delete(self, keys: list[str]) -> None:
        """Remove ``keys``; keys already gone are fine."""
        if not keys:
            return
        try:
            self._fs.rm([self._path(key) for key in keys])
        except FileNotFoundError:
            pass
        except Exception as err:
            raise StoreError("delete", self.location(keys[0]), err) from None

    def require_bucket(self) -> None:
        """A permanent ``StoreError`` when the bucket is missing (Azure lists a missing container as empty)."""
        if not self.bucket_exists():
            raise StoreError("find the bucket of", self.url, FileNotFoundError("no such bucket or container"))

    def bucket_exists(self) -> bool:
        """Whether the bucket (container) of the base URL exists; a local folder need not exist yet."""
        if self._local:
            return True
        bucket = self._root.split("/", 1)[0]
        try:
            self._fs.invalidate_cache()
            self._fs.info(bucket)  # not exists(): that answers False for an unreachable store too
            return True
        except FileNotFoundError:
            return False
        except Exception as err:
            if is_refusal(err):
                return True  # credentials scoped to the objects (a container SAS) may not look at the bucket
            raise StoreError("look up the bucket of", self.url, err) from None

    def list_keys(self, key_prefix: str) -> list[str]:
        """Every object key under ``key_prefix`` (a folder), sorted; empty when there is none."""
        return sorted(self.list_objects(key_prefix))

    def list_objects(self, key_prefix: str) -> dict[str, int]:
        """Every object under ``key_prefix`` (a folder) with its size. A missing bucket is a (permanent)
        ``StoreError``, not an empty listing: the stores say so as FileNotFoundError."""
        path = self._path(key_prefix)
        try:
            self._fs.invalidate_cache()
            found = self._fs.find(path, withdirs=False, detail=True)
        except FileNotFoundError as err:
            if self.bucket_exists():
                return {}
            raise StoreError("list", self.location(key_prefix), err) from None
        except Exception as err:
            raise StoreError("list", self.location(key_prefix), err) from None
        strip = len(self._root) + 1
        return {
            name[strip:]: int(info.get("size") or 0)
            for name, info in found.items()
            if name.startswith(self._root + "/")
            and not name.endswith(".tmp")
            and info.get("type") != "directory"
        }

    def iter_bytes(self, key: str, start: int = 0, block_size: int = READ_BLOCK) -> Iterator[bytes]:
        """The object's bytes from ``start`` on, ``block_size`` at a time, so memory stays constant
        whatever its size."""
        try:
            self._fs.invalidate_cache()
            with self._fs.open(self._path(key), "rb", block_size=block_size) as handle:
                if start:
                    handle.seek(start)
                while block := handle.read(block_size):
                    yield block
        except Exception as err:
            raise StoreError("read", self.location(key), err) from None

    def _path(self, key: str) -> str:
        return f"{self._root}/{key}" if self._root else key
