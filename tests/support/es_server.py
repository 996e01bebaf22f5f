"""A stand-in Elasticsearch for the tests: the part of the REST API Airglow uses, over real HTTP on loopback,
answering the real ``elasticsearch`` client (8.x and 9.x) as Elasticsearch does.

Nothing real can be installed here for Elasticsearch (TEST_INFRA.md). Each part names the behaviour it
reproduces; where Elasticsearch would refuse a request, this refuses it with the same error type and status.
"""

from __future__ import annotations

import bisect
import fnmatch
import json
import re
import secrets
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from support.common import free_port

MAX_RESULT_WINDOW = 10_000  # index.max_result_window
KEYWORD_IGNORE_ABOVE = 256  # dynamic mapping: text + keyword sub-field with ignore_above 256
_TOKEN = re.compile(r"\w+", re.UNICODE)  # the standard analyzer splits on word boundaries and lowercases


class EsApiError(Exception):
    """Elasticsearch's error body: {"error": {"root_cause": [...], "type", "reason"}, "status"}."""

    def __init__(self, status: int, kind: str, reason: str, **extra: Any) -> None:
        super().__init__(reason)
        self.status = status
        self.body = {
            "error": {
                "root_cause": [{"type": kind, "reason": reason, **extra}],
                "type": kind,
                "reason": reason,
                **extra,
            },
            "status": status,
        }


# --- mappings -----------------------------------------------------------------------------------------------


def _dynamic_type(value: Any) -> dict[str, Any] | None:
    """Dynamic mapping: strings become text with a keyword sub-field (or date when they look like one),
    integers long, floats float, booleans boolean, objects object."""
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, int):
        return {"type": "long"}
    if isinstance(value, float):
        return {"type": "float"}
    if isinstance(value, str):
        if _parse_date(value) is not None and re.match(r"^\d{4}-\d{2}-\d{2}", value):
            return {"type": "date"}
        return {
            "type": "text",
            "fields": {"keyword": {"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE}},
        }
    return None


def _parse_date(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) / 1000  # epoch_millis
    if not isinstance(value, str):
        return None
    text = value.replace("Z", "+00:00")
    nanos = re.match(r"^(.*\.\d{6})\d+(.*)$", text)  # date_nanos: Python keeps microseconds
    if nanos:
        text = nanos.group(1) + nanos.group(2)
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


@dataclass
class Index:
    name: str
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    dynamic: bool = True
    data_stream: str | None = None
    visible: dict[str, dict[str, Any]] = field(default_factory=dict)
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    generation: int = 0

    def mapping_of(self, path: str) -> dict[str, Any] | None:
        """A field's mapping; ``x.keyword`` resolves to the sub-field of ``x``."""
        if path in self.properties:
            return self.properties[path]
        parent, _, sub = path.rpartition(".")
        return self.properties.get(parent, {}).get("fields", {}).get(sub)

    def index_document(self, doc_id: str, source: dict[str, Any], create: bool) -> tuple[int, str]:
        """Validate against the mapping (adding dynamic fields) and store until the next refresh."""
        if create and (doc_id in self.visible or doc_id in self.pending):
            raise EsApiError(
                409,
                "version_conflict_engine_exception",
                f"[{doc_id}]: version conflict, document already exists (current version [1])",
                index=self.name,
            )
        if self.data_stream is not None and "@timestamp" not in source:
            raise EsApiError(
                400, "document_parsing_exception", "data stream timestamp field [@timestamp] is missing"
            )
        for path, value in _flatten(source, self.properties):
            mapping = self.properties.get(path)
            if mapping is None and self.dynamic:
                mapping = _dynamic_type(value)
                if mapping is not None:
                    self.properties[path] = mapping
            if mapping is not None:
                _check_type(path, mapping, value)
        existed = doc_id in self.visible or doc_id in self.pending
        self.pending[doc_id] = source
        return (200, "updated") if existed else (201, "created")

    def refresh(self) -> None:
        """Refresh: what was indexed since the last refresh becomes searchable."""
        if self.pending:
            self.visible.update(self.pending)
            self.pending.clear()
            self.generation += 1


def _flatten(
    source: dict[str, Any], properties: dict[str, Any], prefix: str = ""
) -> Iterator[tuple[str, Any]]:
    """Leaf fields by dotted path; an object mapped ``enabled: false`` is stored, not parsed."""
    for key, value in source.items():
        path = prefix + key
        if properties.get(path, {}).get("enabled") is False:
            continue
        if isinstance(value, dict):
            yield from _flatten(value, properties, path + ".")
        else:
            yield path, value


def _check_type(path: str, mapping: dict[str, Any], value: Any) -> None:
    """Refuse what Elasticsearch cannot parse into the mapped type (a mapping conflict, status 400)."""
    kind = mapping.get("type")
    ok = True
    if kind in ("long", "integer"):
        ok = (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, str) and value.lstrip("-").isdigit()
        )
    elif kind in ("date", "date_nanos"):
        ok = _parse_date(value) is not None
    elif kind == "boolean":
        ok = isinstance(value, bool) or value in ("true", "false")
    if not ok and value is not None:
        raise EsApiError(
            400, "document_parsing_exception", f"failed to parse field [{path}] of type [{kind}] in document"
        )


def _values(index: Index, source: dict[str, Any], path: str) -> list[Any]:
    """The indexed values of a field in a document (a keyword sub-field reads its parent's value)."""
    mapping = index.mapping_of(path)
    if mapping is None:
        return []
    real = path if path in index.properties else path.rpartition(".")[0]
    value: Any = source
    for part in real.split("."):
        if not isinstance(value, dict) or part not in value:
            return []
        value = value[part]
    values = value if isinstance(value, list) else [value]
    if mapping.get("type") == "keyword":
        limit = mapping.get("ignore_above")
        return [str(v) for v in values if v is not None and (limit is None or len(str(v)) <= limit)]
    return [v for v in values if v is not None]


# --- queries ------------------------------------------------------------------------------------------------

Predicate = Callable[[Index, dict[str, Any]], bool]


def compile_query(query: dict[str, Any] | None) -> Predicate:
    """bool (filter/must/should/must_not), term, terms, range, exists, match_all: Elasticsearch's semantics."""
    if not query:
        return lambda index, source: True
    if len(query) != 1:
        raise EsApiError(400, "parsing_exception", "[_na] query malformed, must start with start_object")
    ((kind, body),) = query.items()
    if kind == "match_all":
        return lambda index, source: True
    if kind == "bool":
        return _compile_bool(body)
    if kind in ("term", "terms"):
        ((path, wanted),) = body.items()
        if kind == "term":
            wanted = [wanted.get("value") if isinstance(wanted, dict) else wanted]
        return lambda index, source: any(_term_matches(index, path, source, w) for w in wanted)
    if kind == "range":
        ((path, bounds),) = body.items()
        return lambda index, source: any(
            _in_range(index, path, v, bounds) for v in _values(index, source, path)
        )
    if kind == "exists":
        return lambda index, source: bool(_values(index, source, body["field"]))
    raise EsApiError(400, "parsing_exception", f"unknown query [{kind}]")


def _compile_bool(body: dict[str, Any]) -> Predicate:
    def clauses(name: str) -> list[Predicate]:
        value = body.get(name, [])
        return [compile_query(q) for q in (value if isinstance(value, list) else [value])]

    required = clauses("filter") + clauses("must")
    optional, excluded = clauses("should"), clauses("must_not")

    def matches(index: Index, source: dict[str, Any]) -> bool:
        if not all(p(index, source) for p in required) or any(p(index, source) for p in excluded):
            return False
        return bool(required) or not optional or any(p(index, source) for p in optional)

    return matches


def _term_matches(index: Index, path: str, source: dict[str, Any], wanted: Any) -> bool:
    """term is not analysed: on a keyword it must equal the whole value; on text, one of its tokens."""
    mapping = index.mapping_of(path) or {}
    kind = mapping.get("type")
    values = _values(index, source, path)
    if kind == "text":
        return any(str(wanted) in _TOKEN.findall(str(v).lower()) for v in values)
    if kind in ("long", "integer", "float"):
        try:
            return any(float(v) == float(wanted) for v in values)
        except (TypeError, ValueError):
            raise EsApiError(
                400, "query_shard_exception", f'failed to create query: For input string: "{wanted}"'
            ) from None
    if kind == "boolean":
        return any(str(v).lower() == str(wanted).lower() for v in values)
    return any(v == str(wanted) for v in values)


def _in_range(index: Index, path: str, value: Any, bounds: dict[str, Any]) -> bool:
    date = (index.mapping_of(path) or {}).get("type") in ("date", "date_nanos")
    convert = _parse_date if date else float
    v = convert(value)
    for op, bound in bounds.items():
        b = convert(bound)
        if (
            (op == "gt" and not v > b)
            or (op == "gte" and not v >= b)
            or (op == "lt" and not v < b)
            or (op == "lte" and not v <= b)
        ):
            return False
    return True


class _Desc:
    """Reverses the order of one sort value (descending sorts) so that search_after can bisect."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Desc) -> bool:
        return other.value < self.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and other.value == self.value


def _parse_sort(sort: Any) -> list[tuple[str, str]]:
    entries = sort if isinstance(sort, list) else [sort]
    parsed = []
    for entry in entries:
        if isinstance(entry, str):
            parsed.append((entry, "desc" if entry == "_score" else "asc"))
        else:
            ((path, spec),) = entry.items()
            parsed.append((path, spec if isinstance(spec, str) else spec.get("order", "asc")))
    return parsed


# --- the cluster --------------------------------------------------------------------------------------------


@dataclass
class Faults:
    """Failures a test can ask for, each as Elasticsearch shows it."""

    bulk_rejections: int = 0  # whole _bulk answered 429 es_rejected_execution_exception (write queue full)
    item_rejections: int = 0  # items inside a _bulk answered 429 (partial failure, errors: true)
    bulk_lost_responses: int = 0  # _bulk applied, then the connection drops before the response


class Cluster:
    def __init__(self, version: str) -> None:
        self.version = version
        self.indices: dict[str, Index] = {}
        self.data_streams: dict[str, list[str]] = {}
        self.templates: dict[str, dict[str, Any]] = {}
        self.faults = Faults()
        self.requests: list[tuple[str, str, Any]] = []
        self.lock = threading.RLock()
        self.credentials: frozenset[str] | None = None  # accepted Authorization values; None: security off
        self._sorted: dict[Any, tuple[tuple[int, ...], list[Any], list[tuple[Index, str, dict]]]] = {}

    # Index resolution: comma-separated expressions, wildcards, data streams resolve to their backing indices.
    def resolve(
        self, expression: str, ignore_unavailable: bool, allow_no_indices: bool = True
    ) -> list[Index]:
        names: list[str] = []
        for part in expression.split(","):
            part = part.strip()
            if part in ("_all", "*", ""):
                part = "*"
            if "*" in part or "?" in part:
                names += [n for n in self.indices if fnmatch.fnmatchcase(n, part) and not n.startswith(".")]
                names += [
                    b
                    for ds, backing in self.data_streams.items()
                    if fnmatch.fnmatchcase(ds, part)
                    for b in backing
                ]
            elif part in self.data_streams:
                names += self.data_streams[part]
            elif part in self.indices:
                names.append(part)
            elif not ignore_unavailable:
                raise EsApiError(404, "index_not_found_exception", f"no such index [{part}]", index=part)
        if not names and not allow_no_indices:
            raise EsApiError(404, "index_not_found_exception", f"no such index [{expression}]")
        return [self.indices[n] for n in dict.fromkeys(names)]

    def write_index(self, name: str) -> Index:
        """Auto-create on first write, from the highest-priority matching template (data stream or index)."""
        if name in self.data_streams:
            return self.indices[self.data_streams[name][-1]]
        if name in self.indices:
            return self.indices[name]
        if not re.match(r"^[a-z0-9][a-z0-9._+-]*$", name):
            raise EsApiError(
                400,
                "invalid_index_name_exception",
                f"Invalid index name [{name}], must be lowercase",
                index=name,
            )
        template = self._template_for(name)
        body = (template or {}).get("template", {})
        mappings = body.get("mappings", {})
        index_name = name
        data_stream = None
        if template is not None and "data_stream" in template:
            index_name = f".ds-{name}-{time.strftime('%Y.%m.%d')}-000001"
            data_stream = name
            self.data_streams[name] = [index_name]
        index = Index(
            index_name,
            properties=_flat_properties(mappings.get("properties", {})),
            dynamic=str(mappings.get("dynamic", "true")).lower() != "false",
            data_stream=data_stream,
        )
        if data_stream and "@timestamp" not in index.properties:
            index.properties["@timestamp"] = {"type": "date"}
        self.indices[index_name] = index
        return index

    def _template_for(self, name: str) -> dict[str, Any] | None:
        matching = [
            t
            for t in self.templates.values()
            if any(fnmatch.fnmatchcase(name, p) for p in t["index_patterns"])
        ]
        return max(matching, key=lambda t: t.get("priority", 0), default=None)

    def refresh(self, indices: list[Index]) -> None:
        for index in indices:
            index.refresh()

    def search(self, indices: list[Index], body: dict[str, Any], count_only: bool = False) -> dict[str, Any]:
        predicate = compile_query(body.get("query"))
        if count_only:
            hits = sum(1 for i in indices for s in i.visible.values() if predicate(i, s))
            return {"count": hits, "_shards": _shards(len(indices))}
        size, start = int(body.get("size", 10)), int(body.get("from", 0))
        if start + size > MAX_RESULT_WINDOW:
            raise EsApiError(
                400,
                "illegal_argument_exception",
                f"Result window is too large, from + size must be less than or equal to: [{MAX_RESULT_WINDOW}] "
                f"but was [{start + size}]. See the scroll api for a more efficient way to request large data sets.",
            )
        sort = _parse_sort(body.get("sort", ["_score"]))
        keys, docs = self._sorted_matches(indices, body.get("query"), sort, predicate)
        position = start
        if body.get("search_after") is not None:
            after = body["search_after"]
            if len(after) != len(sort):
                raise EsApiError(
                    400,
                    "illegal_argument_exception",
                    f"search_after has {len(after)} value(s) but sort has {len(sort)}.",
                )
            position = bisect.bisect_right(keys, _sort_key(after, sort))
        hits = []
        for index, doc_id, source in docs[position : position + size]:
            values = [_sort_value(index, source, path) for path, _ in sort]
            hits.append(
                {"_index": index.name, "_id": doc_id, "_score": None, "_source": source, "sort": values}
            )
        result: dict[str, Any] = {"max_score": None, "hits": hits}
        if body.get("track_total_hits", True) is not False:
            result["total"] = {"value": len(docs), "relation": "eq"}
        return {"took": 1, "timed_out": False, "_shards": _shards(len(indices)), "hits": result}

    def delete_by_query(self, indices: list[Index], body: dict[str, Any]) -> dict[str, Any]:
        """Delete the searchable documents that match (as Elasticsearch does: a refresh's view of them)."""
        predicate = compile_query(body.get("query"))
        deleted = 0
        for index in indices:
            doomed = [doc_id for doc_id, source in index.visible.items() if predicate(index, source)]
            for doc_id in doomed:
                del index.visible[doc_id]
            if doomed:
                index.generation += 1
            deleted += len(doomed)
        return {"took": 1, "timed_out": False, "total": deleted, "deleted": deleted, "failures": []}

    def _sorted_matches(
        self, indices: list[Index], query: Any, sort: list[tuple[str, str]], predicate: Predicate
    ):
        """Matching documents in sort order, kept until one of the indices refreshes (doc values + index
        sorting make paging cheap in Elasticsearch; this cache keeps 1,000,000-line logs pageable here)."""
        for index in indices:
            for path, _ in sort:
                if path != "_score" and (index.mapping_of(path) or {}).get("type") == "text":
                    raise EsApiError(
                        400,
                        "illegal_argument_exception",
                        f"Text fields are not optimised for operations that require per-document field data like "
                        f"aggregations and sorting, so these operations are disabled by default. Please use a keyword "
                        f"field instead. Alternatively, set fielddata=true on [{path}] in order to load field data "
                        f"by uninverting the inverted index.",
                    )
        cache_key = (tuple(i.name for i in indices), json.dumps(query, sort_keys=True), tuple(sort))
        generations = tuple(i.generation for i in indices)
        cached = self._sorted.get(cache_key)
        if cached is not None and cached[0] == generations:
            return cached[1], cached[2]
        matched = [(i, doc_id, s) for i in indices for doc_id, s in i.visible.items() if predicate(i, s)]
        keyed = sorted(
            (
                (_sort_key([_sort_value(i, s, p) for p, _ in sort], sort), (i, doc_id, s))
                for i, doc_id, s in matched
            ),
            key=lambda pair: pair[0],
        )
        keys, docs = [k for k, _ in keyed], [d for _, d in keyed]
        self._sorted[cache_key] = (generations, keys, docs)
        return keys, docs


def _flat_properties(properties: dict[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    flat: dict[str, dict[str, Any]] = {}
    for name, mapping in properties.items():
        if "properties" in mapping:
            flat.update(_flat_properties(mapping["properties"], prefix + name + "."))
        else:
            flat[prefix + name] = mapping
    return flat


def _sort_value(index: Index, source: dict[str, Any], path: str) -> Any:
    if path == "_score":
        return None
    values = _values(index, source, path)
    if not values:
        return None
    kind = (index.mapping_of(path) or {}).get("type")
    if kind in ("date", "date_nanos"):
        return int(_parse_date(values[0]) * 1000)
    return values[0]


def _sort_key(values: list[Any], sort: list[tuple[str, str]]) -> tuple:
    """Missing values sort last in both orders, as Elasticsearch's default ``missing: _last``."""
    key = []
    for value, (_, order) in zip(values, sort, strict=True):
        key.append(
            (
                value is None,
                _Desc(value) if order == "desc" and value is not None else value if value is not None else 0,
            )
        )
    return tuple(key)


def _shards(count: int) -> dict[str, int]:
    return {"total": count, "successful": count, "skipped": 0, "failed": 0}


# --- HTTP ---------------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    cluster: Cluster

    def log_message(self, *args: Any) -> None:
        pass

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        params = dict(urllib.parse.parse_qsl(url.query))
        parts = [urllib.parse.unquote(p) for p in url.path.split("/") if p]
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            self._check_media_types()
            self._check_credentials()
            with self.cluster.lock:
                self.cluster.requests.append((method, url.path, params))
                status, body = self._route(method, parts, params, raw)
        except EsApiError as err:
            status, body = err.status, err.body
        except _DropConnection:
            self.close_connection = True
            self.connection.close()
            return
        self._respond(status, body, method)

    def _check_credentials(self) -> None:
        """With security on, every request carries an accepted ``Authorization`` (Basic or ApiKey), as
        Elasticsearch's security features require; else 401 security_exception."""
        accepted = self.cluster.credentials
        if accepted is not None and self.headers.get("Authorization") not in accepted:
            raise EsApiError(401, "security_exception", "missing authentication credentials for REST request")

    def _check_media_types(self) -> None:
        """REST API compatibility: ``compatible-with=N`` is accepted for the server's major and the one before."""
        major = int(self.cluster.version.split(".")[0])
        for header in ("Accept", "Content-Type"):
            match = re.search(r"compatible-with=(\d+)", self.headers.get(header, ""))
            if match and int(match.group(1)) not in (major, major - 1):
                raise EsApiError(
                    400,
                    "media_type_header_exception",
                    f"Invalid media-type value on headers [{header}]",
                )

    def _respond(self, status: int, body: Any, method: str) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        # The client refuses a server that does not say it is Elasticsearch (product check).
        self.send_header("X-Elastic-Product", "Elasticsearch")
        major = self.cluster.version.split(".")[0]
        self.send_header("Content-Type", f"application/vnd.elasticsearch+json;compatible-with={major}")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(data)

    def _route(self, method: str, parts: list[str], params: dict[str, str], raw: bytes) -> tuple[int, Any]:
        cluster = self.cluster
        body = json.loads(raw) if raw and parts[-1:] != ["_bulk"] else {}
        if not parts:
            return 200, {
                "name": "airglow-test",
                "cluster_name": "airglow-test",
                "version": {"number": cluster.version, "build_flavor": "default"},
                "tagline": "You Know, for Search",
            }
        ignore = params.get("ignore_unavailable") == "true"
        allow_none = params.get("allow_no_indices", "true") == "true"
        if parts[0] == "_index_template" and len(parts) == 2:
            return self._template(method, parts[1], body)
        if parts[-1] == "_bulk" and method in ("POST", "PUT"):
            return 200, self._bulk(parts[0] if len(parts) == 2 else None, raw, params)
        if parts[-1] in ("_search", "_count") and method in ("GET", "POST"):
            indices = cluster.resolve(parts[0] if len(parts) == 2 else "_all", ignore, allow_none)
            body = body | {
                k: json.loads(v) if k in ("size", "from") else v
                for k, v in params.items()
                if k in ("size", "from")
            }
            if params.get("track_total_hits") == "false":
                body["track_total_hits"] = False
            return 200, cluster.search(indices, body, count_only=parts[-1] == "_count")
        if parts[-1] == "_delete_by_query" and method == "POST" and len(parts) == 2:
            return 200, cluster.delete_by_query(cluster.resolve(parts[0], ignore, allow_none), body)
        if parts[-1] == "_refresh" and method in ("GET", "POST"):
            indices = cluster.resolve(parts[0] if len(parts) == 2 else "_all", ignore, allow_none)
            cluster.refresh(indices)
            return 200, {"_shards": _shards(len(indices))}
        if len(parts) == 4 and parts[1:3] == ["_mapping", "field"] and method == "GET":
            return 200, self._field_mapping(
                cluster.resolve(parts[0], ignore, allow_none), parts[3].split(",")
            )
        raise EsApiError(
            405,
            "illegal_argument_exception",
            f"Incorrect HTTP method for uri [/{'/'.join(parts)}] and method [{method}]",
        )

    def _template(self, method: str, name: str, body: dict[str, Any]) -> tuple[int, Any]:
        templates = self.cluster.templates
        if method == "PUT":
            if not body.get("index_patterns"):
                raise EsApiError(
                    400,
                    "action_request_validation_exception",
                    "Validation Failed: 1: index patterns are missing;",
                )
            templates[name] = body
            return 200, {"acknowledged": True}
        if name not in templates:
            raise EsApiError(
                404, "resource_not_found_exception", f"index template matching [{name}] not found"
            )
        if method == "DELETE":
            del templates[name]
            return 200, {"acknowledged": True}
        return 200, {"index_templates": [{"name": name, "index_template": templates[name]}]}

    def _bulk(self, default_index: str | None, raw: bytes, params: dict[str, str]) -> dict[str, Any]:
        """NDJSON action/source pairs; each item succeeds or fails on its own (errors: true)."""
        faults = self.cluster.faults
        if faults.bulk_rejections:
            faults.bulk_rejections -= 1
            raise EsApiError(
                429, "es_rejected_execution_exception", "rejected execution of coordinating operation"
            )
        lines = [line for line in raw.split(b"\n") if line.strip()]
        items, touched, errors = [], set(), False
        pairs = iter(lines)
        for action_line in pairs:
            ((op, meta),) = json.loads(action_line).items()
            source = json.loads(next(pairs)) if op != "delete" else None
            target = meta.get("_index", default_index)
            doc_id = meta.get("_id") or secrets.token_urlsafe(15)
            item = self._bulk_item(op, target, doc_id, source, faults)
            errors = errors or "error" in item
            if "error" not in item:
                touched.add(target)
            items.append({op: item})
        if params.get("refresh") in ("true", "wait_for", ""):
            self.cluster.refresh([self.cluster.write_index(t) for t in touched])
        if faults.bulk_lost_responses:
            faults.bulk_lost_responses -= 1
            raise _DropConnection
        return {"took": 1, "errors": errors, "items": items}

    def _bulk_item(
        self, op: str, target: str | None, doc_id: str, source: Any, faults: Faults
    ) -> dict[str, Any]:
        try:
            if target is None:
                raise EsApiError(
                    400, "action_request_validation_exception", "Validation Failed: 1: index is missing;"
                )
            if faults.item_rejections:
                faults.item_rejections -= 1
                raise EsApiError(
                    429, "es_rejected_execution_exception", "rejected execution of primary operation"
                )
            index = self.cluster.write_index(target)
            if index.data_stream is not None and op != "create":
                raise EsApiError(
                    400,
                    "illegal_argument_exception",
                    "only write ops with an op_type of create are allowed in data streams",
                )
            if op not in ("index", "create"):
                raise EsApiError(400, "illegal_argument_exception", f"unsupported action [{op}]")
            status, result = index.index_document(doc_id, source, create=op == "create")
            return {
                "_index": index.name,
                "_id": doc_id,
                "_version": 1,
                "result": result,
                "status": status,
                "_shards": _shards(1),
            }
        except EsApiError as err:
            error = err.body["error"]
            return {
                "_index": target,
                "_id": doc_id,
                "status": err.status,
                "error": {k: v for k, v in error.items() if k != "root_cause"},
            }

    def _field_mapping(self, indices: list[Index], fields: list[str]) -> dict[str, Any]:
        """GET {index}/_mapping/field/{fields}: only the fields an index maps appear under it."""
        response: dict[str, Any] = {}
        for index in indices:
            mappings = {}
            for path in fields:
                mapping = index.mapping_of(path)
                if mapping is not None:
                    leaf = path.rsplit(".", 1)[-1]
                    mappings[path] = {"full_name": path, "mapping": {leaf: mapping}}
            response[index.name] = {"mappings": mappings}
        return response


class _DropConnection(Exception):
    pass


@dataclass
class EsServer:
    url: str
    cluster: Cluster

    def refresh(self) -> None:
        """Make everything indexed so far searchable (Elasticsearch's refresh of every index)."""
        with self.cluster.lock:
            self.cluster.refresh(list(self.cluster.indices.values()))


@contextmanager
def running_es(
    version: str = "9.2.0",
    refresh_interval: float | None = 1.0,
    tls: tuple[Path, Path] | None = None,
    credentials: frozenset[str] | None = None,
) -> Iterator[EsServer]:
    """An Elasticsearch stand-in on 127.0.0.1 (a free port); indices refresh every ``refresh_interval``
    seconds, as Elasticsearch's default ``index.refresh_interval: 1s``, or (None) only when asked: a test
    that checks what is searchable then says when (``EsServer.refresh``, or a client's refresh). ``tls``
    (certificate, key) serves HTTPS; ``credentials`` are the ``Authorization`` values accepted (security on)."""
    cluster = Cluster(version)
    cluster.credentials = credentials
    handler = type("Handler", (_Handler,), {"cluster": cluster})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    server.daemon_threads = True
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    stop = threading.Event()

    def refresher(interval: float) -> None:
        while not stop.wait(interval):
            with cluster.lock:
                cluster.refresh(list(cluster.indices.values()))

    threads = [threading.Thread(target=server.serve_forever, daemon=True)]
    if refresh_interval is not None:
        threads.append(threading.Thread(target=refresher, args=(refresh_interval,), daemon=True))
    for thread in threads:
        thread.start()
    try:
        scheme = "https" if tls is not None else "http"
        yield EsServer(f"{scheme}://127.0.0.1:{server.server_address[1]}", cluster)
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
