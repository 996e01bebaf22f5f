"""Run by the tests in a child Python (another ``elasticsearch`` major, or to measure memory on its own):
writes or reads a task log through Airglow against an Elasticsearch URL and prints one JSON line.

    python es_client_scenario.py URL write LINES      # one try, LINES lines, bulk writer
    python es_client_scenario.py URL read             # read it back; order, count and RSS samples
    python es_client_scenario.py URL round-trip       # template, deferral, hostile id, read back
"""

from __future__ import annotations

import json
import sys
import time

import elasticsearch

from airglow.log_handlers.elasticsearch.documents import LogEvent
from airglow.log_handlers.elasticsearch.index_template import install
from airglow.log_handlers.elasticsearch.settings import EsLogSettings
from airglow.log_handlers.elasticsearch.task_logs import EsTaskLogs
from airglow.log_handlers.try_identity import TryIdentity

TRY = TryIdentity("big", "task", "run", 1)


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def write(logs: EsTaskLogs, count: int) -> dict:
    writer = logs.open_writer(TRY)
    moment = time.time_ns()
    for number in range(count):
        writer.write(LogEvent(f"line {number:07d}", moment + number // 1000))
    return {"delivered": writer.finish()}


def read(logs: EsTaskLogs) -> dict:
    reader = logs.reader()
    count, ordered, previous = 0, True, -1
    samples: list[int] = []
    for line in reader.lines(logs.log_id(TRY)):
        if reader.is_end(line):
            continue
        ordered = ordered and line.message == f"line {count:07d}" and line.offset > previous
        previous = line.offset
        count += 1
        if count % 100_000 == 0:
            samples.append(_status_kib("VmRSS"))
    return {"lines": count, "ordered": ordered, "rss_kib": samples, "peak_kib": _status_kib("VmHWM")}


def round_trip(logs: EsTaskLogs) -> dict:
    install(logs.client, logs.settings)
    hostile = TryIdentity('d"*?', "t", '{"query":{"match_all":{}}}', 1)
    other = TryIdentity("d", "t", "match_all", 1)
    for identity in (other, hostile):
        first = logs.open_writer(identity)
        first.write(LogEvent("before", time.time_ns()))
        first.write(LogEvent("Pausing task as DEFERRED. ", time.time_ns()))
        first.finish(ended=False)  # a deferral: the Airflow adapter marks no end
        logs.client.indices.refresh(index="airflow-logs*")
        resumed = logs.open_writer(identity)
        resumed.write(LogEvent("after", time.time_ns() - 10**10))
        resumed.finish()
    logs.client.indices.refresh(index="airflow-logs*")
    reader = logs.reader()
    messages = [line.message for line in reader.lines(logs.log_id(hostile))]
    return {"messages": messages, "id_field": reader.id_field()}


def main() -> None:
    url, command = sys.argv[1], sys.argv[2]
    logs = EsTaskLogs(EsLogSettings.build(hosts=url, writer="bulk", batch_size=10_000, page_size=5_000))
    if command == "write":
        result = write(logs, int(sys.argv[3]))
    elif command == "read":
        result = read(logs)
    else:
        result = round_trip(logs)
    print(json.dumps(result | {"client": ".".join(map(str, elasticsearch.__version__))}))


if __name__ == "__main__":
    main()
