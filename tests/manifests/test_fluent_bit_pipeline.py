"""The Fluent Bit DaemonSet's parsing and filtering (manifests/log-shipping/fluent-bit), run by
tests/support/fluent_bit.py from the config file itself, on real output of Airglow's Elasticsearch stdout writer
wrapped as CRI lines: what reaches Elasticsearch is exactly the task's documents, and the reader Airflow
uses finds them in order, with their end mark, however the batches are ordered or retried."""

from __future__ import annotations

import io
import json
import os
import time
from datetime import datetime

import pytest
import yaml
from support.es_logs import TRY, read_messages, task_logs, write_lines
from support.fluent_bit import FluentBitPipeline, wrap
from support.manifests import MANIFESTS, build

from airglow.log_handlers.elasticsearch import cli
from airglow.log_handlers.elasticsearch.sinks import StdoutSink
from airglow.log_handlers.elasticsearch.task_logs import TryLogWriter

FLUENT_BIT = MANIFESTS / "log-shipping" / "fluent-bit"


def instant(stamp: str) -> tuple[datetime, int]:
    """An RFC 3339 UTC stamp as (seconds, nanoseconds), whatever its number of fractional digits."""
    whole, fraction = stamp.rstrip("Z").split(".")
    return datetime.fromisoformat(whole), int(fraction.ljust(9, "0"))


def writer_output(es, expected: list[str]) -> tuple[object, list[str]]:
    logs = task_logs(es, writer="stdout")
    out = io.StringIO()
    writer = TryLogWriter(logs.settings, TRY, StdoutSink(out))
    write_lines(writer, expected, time.time_ns())
    assert writer.finish() is True
    return logs, out.getvalue().splitlines()


def test_task_documents_survive_the_fluent_bit_pipeline_and_read_back_in_order(es) -> None:
    expected = ["first", "x" * 40_000, 'quotes " and \\ and ünïcode', "last"]  # 40,000: split into P/P/F
    logs, documents = writer_output(es, expected)
    container_output = [
        "airflow supervisor: starting task",
        *documents,
        json.dumps({"level": "info", "event": "JSON, but not a task document"}),
        "not a task document",
    ]
    cri_file = list(wrap(container_output))
    assert any(" stdout P " in line for line in cri_file)

    pipeline = FluentBitPipeline.from_directory(FLUENT_BIT)
    records = list(pipeline.records(cri_file))
    assert [record.fields for record in records] == [
        {key: value for key, value in json.loads(line).items() if key != "@timestamp"} for line in documents
    ]
    # Fluent Bit ships batches in any order, and resends a batch whose response it did not get.
    operations = pipeline.bulk_operations(records[::-1])
    for _ in range(2):
        assert not logs.client.bulk(operations=operations)["errors"]
    logs.client.indices.refresh(index="airflow-logs")
    assert logs.client.count(index="airflow-logs")["count"] == len(documents), (
        "a resent batch duplicated lines"
    )
    assert read_messages(logs) == [*expected, logs.settings.end_of_log_mark]

    stored = {
        hit["_source"]["offset"]: hit["_source"]
        for hit in logs.client.search(index="airflow-logs", size=100)["hits"]["hits"]
    }
    for line in documents:
        original = json.loads(line)
        assert stored[original["offset"]] == {
            **original,
            "@timestamp": stored[original["offset"]]["@timestamp"],
        }
        assert instant(stored[original["offset"]]["@timestamp"]) == instant(original["@timestamp"])


def test_fluent_bit_writes_where_airflow_reads() -> None:
    """The index Fluent Bit writes is the one the Airflow values tell the handler to read."""
    pipeline = FluentBitPipeline.from_directory(FLUENT_BIT)
    values = yaml.safe_load((MANIFESTS / "airflow" / "values-logs-elasticsearch.yaml").read_text())
    kwargs = json.loads(values["config"]["logging"]["remote_task_handler_kwargs"])
    assert kwargs["writer"] == "stdout"
    header, _ = pipeline.bulk_operations(list(pipeline.records(wrap(['{"log_id": "x"}']))))
    ((action, target),) = header.items()
    assert target["_index"] == kwargs["target_index"]
    assert action == "index", "idempotent with generated ids: a retried batch must not loop on 409"


def test_the_model_refuses_a_config_it_does_not_model() -> None:
    config = yaml.safe_load((FLUENT_BIT / "fluent-bit.yaml").read_text())
    config["pipeline"]["filters"].append({"name": "modify", "match": "*", "remove": "log_id"})
    with pytest.raises(AssertionError, match="modify"):
        FluentBitPipeline(config, {})


def test_into_a_data_stream_fluent_bit_creates_and_a_retried_batch_still_reads_once(es, tmp_path) -> None:
    """With the data-stream component (as kustomize builds it), the es output sends `create` without ids, as
    data streams require; a batch resent after a lost response is stored twice and read once."""
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources: [{os.path.relpath(FLUENT_BIT, overlay)}]\n"
        f"components: [{os.path.relpath(MANIFESTS / 'components' / 'fluent-bit-data-stream', overlay)}]\n"
    )
    config_maps = {o["metadata"]["name"]: o["data"] for o in build(overlay) if o["kind"] == "ConfigMap"}
    env = next(data for name, data in config_maps.items() if name.startswith("airglow-fluent-bit-env"))
    config = next(data for name, data in config_maps.items() if "fluent-bit.yaml" in data)["fluent-bit.yaml"]
    pipeline = FluentBitPipeline(yaml.safe_load(config), env)
    target = env["ELASTICSEARCH_INDEX"]
    assert (
        cli.main(
            ["--hosts", es.url, "--target-index", target, "install-template", "--data-stream"],
            out=io.StringIO(),
        )
        == 0
    )

    expected = ["one", "two", "three"]
    logs = task_logs(es, template=False, writer="stdout", target_index=target)
    out = io.StringIO()
    writer = TryLogWriter(logs.settings, TRY, StdoutSink(out))
    write_lines(writer, expected, time.time_ns())
    assert writer.finish() is True
    records = list(pipeline.records(wrap(out.getvalue().splitlines())))
    operations = pipeline.bulk_operations(records)
    header, _ = operations[0], operations[1]
    assert list(header) == ["create"] and "_id" not in header["create"]
    for _ in range(2):  # the same batch, resent
        assert not logs.client.bulk(operations=operations)["errors"]
    logs.client.indices.refresh(index=target)
    assert logs.client.count(index=target)["count"] == 2 * len(records)
    assert read_messages(logs) == [*expected, logs.settings.end_of_log_mark]
