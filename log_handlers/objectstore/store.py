"""The one place that talks to object storage, through fsspec: put, list, stream."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from airglow.log_handlers.errors import LogConfigError, StoreError
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

    def list_keys(self, key_prefix: str) -> list[str]:
        """Every object key under ``key_prefix`` (a folder), sorted; empty when there is none."""
        path = self._path(key_prefix)
        try:
            self._fs.invalidate_cache()
            found = self._fs.find(path, withdirs=False, detail=False)
        except FileNotFoundError:
            return []
        except Exception as err:
            raise StoreError("list", self.location(key_prefix), err) from None
        strip = len(self._root) + 1
        return sorted(p[strip:] for p in found if p.startswith(self._root + "/") and not p.endswith(".tmp"))

    def iter_bytes(self, key: str, block_size: int = READ_BLOCK) -> Iterator[bytes]:
        """The object's bytes, ``block_size`` at a time, so memory stays constant whatever its size."""
        try:
            self._fs.invalidate_cache()
            with self._fs.open(self._path(key), "rb", block_size=block_size) as handle:
                while block := handle.read(block_size):
                    yield block
        except Exception as err:
            raise StoreError("read", self.location(key), err) from None

    def _path(self, key: str) -> str:
        return f"{self._root}/{key}" if self._root else key
