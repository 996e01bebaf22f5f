"""Container runtime (CRI) log files as the kubelet's runtime writes them, and the parse a node shipper does.

Writing: each stdout line becomes ``<RFC3339Nano time> stdout <P|F> <content>``; containerd splits a line
longer than 16 KiB into ``P`` (partial) pieces and a final ``F``. Reading mirrors Fluent Bit's ``cri`` parser
(regex ``^(?<time>[^ ]+) (?<stream>stdout|stderr) (?<logtag>[^ ]*) (?<log>.*)$``) with its ``multiline.parser
cri`` joining of partials, then the ``parser`` filter decoding the JSON in ``log`` and a ``grep`` filter that
keeps records with a ``log_id`` (Airglow's task documents) and drops everything else the container printed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import Any

CRI_MAX_LINE = 16 * 1024
CRI_LINE = re.compile(r"^(?P<time>[^ ]+) (?P<stream>stdout|stderr) (?P<logtag>[^ ]*) (?P<log>.*)$")


def wrap(stdout_lines: Iterable[str], stream: str = "stdout") -> Iterator[str]:
    for line in stdout_lines:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"
        pieces = [line[i : i + CRI_MAX_LINE] for i in range(0, len(line), CRI_MAX_LINE)] or [""]
        for number, piece in enumerate(pieces):
            tag = "F" if number == len(pieces) - 1 else "P"
            yield f"{stamp} {stream} {tag} {piece}"


def parse(cri_lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Records a node shipper would send on: joined partials, decoded JSON, task documents only."""
    partial: dict[str, list[str]] = {}
    for raw in cri_lines:
        match = CRI_LINE.match(raw.rstrip("\n"))
        if match is None:
            continue
        pieces = partial.setdefault(match["stream"], [])
        pieces.append(match["log"])
        if match["logtag"] == "P":
            continue
        content = "".join(pieces)
        partial[match["stream"]] = []
        try:
            record = json.loads(content)
        except ValueError:
            continue
        if isinstance(record, dict) and "log_id" in record:
            yield record
