"""What a node's container runtime and Fluent Bit do to a task pod's stdout, run in Python from the settings
in manifests/log-shipping/fluent-bit/fluent-bit.yaml (no Fluent Bit can be installed here).

Runtime: each stdout line becomes ``<RFC3339Nano time> stdout <P|F> <content>``; containerd splits a line longer
than 16 KiB into ``P`` (partial) pieces and a final ``F``.

Fluent Bit, step by step as its plugins behave:
- tail with ``multiline.parser: cri``: the built-in cri parser (regex
  ``^(?<time>.+?) (?<stream>stdout|stderr) (?<_p>F|P) (?<log>.*)$``) joins P pieces up to their F, per stream;
- filter ``parser``: decodes ``key_name`` with the named parser; a json parser with ``time_key`` takes the
  record's time from that field (``time_keep: off`` removes it); with ``reserve_data: off`` the decoded fields
  replace the record; content that does not parse leaves the record as it was;
- filter ``grep``: ``regex: KEY REGEX`` keeps records whose KEY matches, and drops records without KEY;
- output ``es``: adds ``time_key`` from the record's time (nanoseconds with ``time_key_nanos``), an id from the
  record's content with ``generate_id``, and writes with ``write_operation`` into ``index``.

A setting or plugin this model does not know fails loudly, so the test cannot pass on a config it ignores.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

CRI_MAX_LINE = 16 * 1024
CRI_LINE = re.compile(r"^(?P<time>.+?) (?P<stream>stdout|stderr) (?P<_p>F|P) (?P<log>.*)$")
ON = {"on", "true", "yes", True}
# Settings that change nothing about which records leave, or what they hold.
TRANSPORT = {
    "tail": {"name", "tag", "path", "exclude_path", "db", "db.locking", "storage.type", "mem_buf_limit",
             "buffer_max_size", "refresh_interval", "read_from_head", "multiline.parser", "skip_long_lines"},
    "es": {"name", "match", "host", "port", "tls", "http_user", "http_passwd", "index", "suppress_type_name",
           "time_key", "time_key_nanos", "generate_id", "write_operation", "replace_dots", "trace_error",
           "buffer_size", "retry_limit", "storage.total_limit_size"},
}  # fmt: skip


def wrap(stdout_lines: Iterable[str], stream: str = "stdout") -> Iterator[str]:
    """Lines as the runtime writes them into /var/log/containers/*.log."""
    for line in stdout_lines:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"
        pieces = [line[i : i + CRI_MAX_LINE] for i in range(0, len(line), CRI_MAX_LINE)] or [""]
        for number, piece in enumerate(pieces):
            tag = "F" if number == len(pieces) - 1 else "P"
            yield f"{stamp} {stream} {tag} {piece}"


@dataclass
class Record:
    time_ns: int
    fields: dict[str, Any]


def parse_time(value: str, fluent_format: str) -> int:
    """Fluent Bit's strptime with %L (fractional seconds, any number of digits)."""
    head, _, tail = fluent_format.partition(".%L")
    if not tail and "%L" not in fluent_format:
        return calendar.timegm(time.strptime(value, fluent_format)) * 1_000_000_000
    match = re.fullmatch(r"(.*)\.(\d+)" + re.escape(tail), value)
    if match is None:
        raise ValueError(f"{value!r} does not match {fluent_format!r}")
    seconds = calendar.timegm(time.strptime(match[1], head))
    return seconds * 1_000_000_000 + int(match[2].ljust(9, "0")[:9])


def expand(value: Any, env: dict[str, str]) -> Any:
    """${VAR} in a setting, from the environment Fluent Bit runs with (empty when unset, as Fluent Bit does)."""
    return (
        re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: env.get(m[1], ""), value)
        if isinstance(value, str)
        else value
    )


def read_env_file(path: Path) -> dict[str, str]:
    pairs = (
        line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#")
    )
    return {key: value for key, value in pairs}


class FluentBitPipeline:
    def __init__(self, config: dict[str, Any], env: dict[str, str]) -> None:
        self.parsers = {parser["name"]: parser for parser in config.get("parsers", [])}
        pipeline = config["pipeline"]
        (self.tail,) = pipeline["inputs"]
        (self.output,) = pipeline["outputs"]
        self.filters = pipeline.get("filters", [])
        self.env = env
        self._check_known()

    @classmethod
    def from_directory(cls, directory: Path) -> FluentBitPipeline:
        env = {**os.environ, **read_env_file(directory / "fluent-bit.env")}
        return cls(yaml.safe_load((directory / "fluent-bit.yaml").read_text()), env)

    def _check_known(self) -> None:
        assert self.tail["name"] == "tail" and self.tail["multiline.parser"] == "cri", self.tail
        assert set(self.tail) <= TRANSPORT["tail"], set(self.tail) - TRANSPORT["tail"]
        assert self.output["name"] == "es" and set(self.output) <= TRANSPORT["es"], self.output
        for step in self.filters:
            assert step["name"] in ("parser", "grep"), f"no model of the {step['name']} filter"
        for parser in self.parsers.values():
            assert parser["format"] == "json", parser

    def records(self, cri_lines: Iterable[str]) -> Iterator[Record]:
        for record in self._tail(cri_lines):
            for step in self.filters:
                record = self._parser(step, record) if step["name"] == "parser" else self._grep(step, record)
                if record is None:
                    break
            else:
                yield record

    def _tail(self, cri_lines: Iterable[str]) -> Iterator[Record]:
        partial: dict[str, list[str]] = {}
        for raw in cri_lines:
            match = CRI_LINE.match(raw.rstrip("\n"))
            if match is None:
                continue
            pieces = partial.setdefault(match["stream"], [])
            pieces.append(match["log"])
            if match["_p"] == "P":
                continue
            partial[match["stream"]] = []
            moment = parse_time(match["time"], "%Y-%m-%dT%H:%M:%S.%LZ")
            yield Record(moment, {"stream": match["stream"], "_p": "F", "log": "".join(pieces)})

    def _parser(self, step: dict[str, Any], record: Record) -> Record:
        parser = self.parsers[step["parser"]]
        try:
            decoded = json.loads(record.fields[step["key_name"]])
        except (KeyError, ValueError):
            return record
        if not isinstance(decoded, dict):
            return record
        moment = record.time_ns
        if parser.get("time_key") in decoded:
            moment = parse_time(decoded[parser["time_key"]], parser["time_format"])
            if parser.get("time_keep", False) not in ON:
                del decoded[parser["time_key"]]
        fields = decoded if step.get("reserve_data", False) not in ON else {**record.fields, **decoded}
        return Record(moment, fields)

    @staticmethod
    def _grep(step: dict[str, Any], record: Record) -> Record | None:
        key, pattern = step["regex"].split(" ", 1)
        value = record.fields.get(key)
        return record if value is not None and re.search(pattern, str(value)) else None

    def bulk_operations(self, records: Iterable[Record]) -> list[dict[str, Any]]:
        """The _bulk body the es output sends for these records."""
        out = {key: expand(value, self.env) for key, value in self.output.items()}
        index = out["index"]
        operations = []
        for record in records:
            document = dict(record.fields)
            seconds, nanos = divmod(record.time_ns, 1_000_000_000)
            fraction = f"{nanos:09d}" if out.get("time_key_nanos") in ON else f"{nanos // 1_000_000:03d}"
            stamp = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
            document[out.get("time_key", "@timestamp")] = f"{stamp}.{fraction}Z"
            action: dict[str, Any] = {"_index": index}
            if out.get("generate_id") in ON:
                digest = hashlib.sha256(json.dumps(record.fields, sort_keys=True).encode()).digest()
                action["_id"] = str(uuid.UUID(bytes=digest[:16]))
            operations += [{out.get("write_operation", "create"): action}, document]
        return operations
