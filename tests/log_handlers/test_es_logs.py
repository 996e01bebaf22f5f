"""Task logs in Elasticsearch: writers, reader, index template, through the real ``elasticsearch`` client and the
real ``fluent-logger`` against the stand-in servers (es_server.py, forward_server.py)."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import structlog
from support.common import free_port, wait_until
from support.es_logs import ES_OPTIONS, TRY, read_messages, task_logs, write_lines
from support.es_server import running_es
from support.forward_server import refuse_connections, running_forward

from airglow.log_handlers.airflow.es_reads import airflow3_lines, read_increment
from airglow.log_handlers.airflow.es_remote_io import AirglowEsRemoteLogIO
from airglow.log_handlers.elasticsearch import cli
from airglow.log_handlers.elasticsearch.documents import LogEvent
from airglow.log_handlers.elasticsearch.index_template import install
from airglow.log_handlers.elasticsearch.reader import EsLogReader
from airglow.log_handlers.elasticsearch.settings import EsLogSettings
from airglow.log_handlers.elasticsearch.sinks import StdoutSink
from airglow.log_handlers.elasticsearch.task_logs import EsTaskLogs, frontend_url
from airglow.log_handlers.errors import LogConfigError
from airglow.log_handlers.try_identity import TryIdentity, render_log_path


def test_order_holds_for_100k_lines_written_within_one_millisecond(es) -> None:
    logs = task_logs(es, batch_size=5000)
    writer = logs.open_writer(TRY)
    same_millisecond = time.time_ns()
    expected = [f"line {n:06d}" for n in range(100_000)]
    write_lines(writer, expected, same_millisecond)
    assert writer.finish() is True
    messages = read_messages(logs)
    assert messages[:-1] == expected
    assert messages[-1] == logs.settings.end_of_log_mark


def test_order_holds_across_a_deferral_even_when_the_resuming_pod_clock_is_behind(es, tmp_path) -> None:
    """Through Airflow 3's adapter, as the supervisor drives it: the try's structlog events, then ``upload``
    at the deferral (no end mark: Airflow logs that it pauses) and again when the resumed try ends."""
    remote = AirglowEsRemoteLogIO(tmp_path, hosts=es.url, **ES_OPTIONS)
    install(remote.logs.client, remote.logs.settings)
    relative = render_log_path(TRY)
    local = tmp_path / relative
    local.parent.mkdir(parents=True)
    (write_event,) = remote.processors
    now = datetime.now(timezone.utc)
    # The try resumes in another process on a pod whose clock is a minute behind: offsets still go up.
    parts = (
        ([f"before {n}" for n in range(50)] + ["Pausing task as DEFERRED. "], now),
        ([f"after {n}" for n in range(50)], now - timedelta(minutes=1)),
    )
    for messages, moment in parts:
        with local.open("a") as file:
            logger = structlog.WriteLogger(file)
            for message in messages:
                write_event(logger, "info", {"event": message, "timestamp": moment.isoformat()})
        remote.upload(relative)
        remote.logs.client.indices.refresh(index="airflow-logs*")  # the resumed try reads where it got to
    assert read_messages(remote.logs) == [f"before {n}" for n in range(50)] + [
        "Pausing task as DEFERRED. "
    ] + [f"after {n}" for n in range(50)] + [remote.logs.settings.end_of_log_mark]


def test_bulk_retries_never_duplicate_or_lose_a_line(es) -> None:
    logs = task_logs(es, batch_size=100, backoff_initial=0.05, backoff_max=0.2)
    es.cluster.faults.bulk_rejections = 2  # 429 for the whole request
    es.cluster.faults.item_rejections = 7  # 429 for some items of a request
    es.cluster.faults.bulk_lost_responses = 2  # applied, but the response never arrives: the client retries
    writer = logs.open_writer(TRY)
    expected = [f"line {n}" for n in range(1000)]
    write_lines(writer, expected)
    assert writer.finish() is True
    assert read_messages(logs)[:-1] == expected
    assert logs.reader().count(logs.log_id(TRY)) == 1001
    assert es.cluster.faults == type(es.cluster.faults)(), "every injected fault was hit"


def test_a_forked_task_process_and_its_supervisor_each_deliver_every_line(es, caplog) -> None:
    """Airflow 2 forks the task from its supervisor, whose handler already talked to Elasticsearch: both
    processes then write at once, and neither may read the other's responses."""
    logs = task_logs(es, flush_interval=0.01, batch_size=5)
    supervisor = logs.open_writer(TRY)  # reads the stored offset: a pooled connection now exists
    task_try = dataclasses.replace(TRY, try_number=2)
    pid = os.fork()
    if pid == 0:  # the forked task process: exit code 0 only when every line was delivered
        delivered = False
        try:
            writer = logs.open_writer(task_try)
            write_lines(writer, [f"task {n}" for n in range(300)])
            delivered = writer.finish()
        finally:
            os._exit(0 if delivered else 1)
    write_lines(supervisor, [f"supervisor {n}" for n in range(300)])
    assert supervisor.finish() is True
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the task process delivered every line"
    assert read_messages(logs)[:-1] == [f"supervisor {n}" for n in range(300)]
    assert read_messages(logs, task_try)[:-1] == [f"task {n}" for n in range(300)]
    assert "failed" not in caplog.text


def test_a_rejected_document_is_reported_not_silently_dropped(es, caplog) -> None:
    logs = task_logs(es)
    writer = logs.open_writer(TRY)
    write_lines(writer, ["fine"])
    bad = writer.documents.line(LogEvent("bad", time.time_ns())) | {"offset": "not a number"}
    writer._sink.send(bad)
    assert writer.finish() is False
    assert "document_parsing_exception" in caplog.text and "failed to parse field [offset]" in caplog.text


@pytest.mark.server
def test_bulk_writer_gives_up_after_final_timeout_and_says_how_much_is_undelivered(caplog) -> None:
    with running_es() as down:
        url = down.url
    settings = EsLogSettings.build(
        hosts=url, writer="bulk", final_timeout=1, backoff_initial=0.1, request_timeout=1
    )
    logs = EsTaskLogs(settings)
    writer = logs.open_writer(TRY)
    write_lines(writer, ["lost 1", "lost 2"])
    started = time.monotonic()
    assert writer.finish() is False
    assert time.monotonic() - started < 10
    assert "3 task log documents not delivered (the local log keeps them)" in caplog.text


def test_forward_writer_delivers_through_fluent_logger_even_when_fluentd_comes_up_late(es) -> None:
    port = free_port()
    holder = refuse_connections(port)
    logs = task_logs(es, writer="forward", forward_port=port, forward_tag="airflow.task", backoff_initial=0.1)
    writer = logs.open_writer(TRY)
    expected = [f"line {n}" for n in range(200)]
    write_lines(writer, expected[:100])  # Fluentd is down: fluent-logger buffers
    holder.close()
    with running_forward(port) as fluentd:
        write_lines(writer, expected[100:])
        assert writer.finish() is True
        wait_until(lambda: len(fluentd.received.snapshot()) == 201, 10, 0.05, what="all events forwarded")
    events = fluentd.received.snapshot()
    assert {event.tag for event in events} == {"airflow.task"}
    # Fluentd's elasticsearch output then indexes the records as they are.
    operations = [op for event in events for op in ({"create": {}}, event.record)]
    assert not logs.client.bulk(index="airflow-logs", operations=operations)["errors"]
    assert read_messages(logs) == [*expected, logs.settings.end_of_log_mark]


@pytest.mark.server
def test_forward_writer_reports_what_it_could_not_deliver(caplog) -> None:
    port = free_port()
    holder = refuse_connections(port)
    try:
        settings = EsLogSettings.build(
            writer="forward", forward_port=port, final_timeout=0.5, backoff_initial=0.1
        )
        writer = EsTaskLogs(settings).open_writer(TRY)
        write_lines(writer, ["kept locally"])
        assert writer.finish() is False
    finally:
        holder.close()
    assert "bytes of task log not delivered (the local log keeps them)" in caplog.text


@pytest.mark.parametrize("template", [True, False], ids=["index-template", "dynamic-mapping"])
def test_hostile_ids_return_only_their_own_lines(es, template) -> None:
    logs = task_logs(es, template=template)
    long_part = "run" * (80 if not template else 600)  # dynamic keyword sub-fields stop at 256 characters
    run_ids = [
        'a"b',
        "a*",
        "a?",
        "a",
        '{"query": {"match_all": {}}}',
        "a b",
        "A B",
        "a OR b",
        "a) OR (b",
        "\\",
        long_part,
        long_part + "x",
    ]
    tries = [TryIdentity("dag", "task", run_id, 1) for run_id in run_ids]
    for identity in tries:
        writer = logs.open_writer(identity)
        write_lines(writer, [f"{identity.run_id} #{n}" for n in range(3)])
        writer.finish()
    logs.client.indices.refresh(index="airflow-logs*")
    reader = EsLogReader(logs.settings, logs.client)
    assert reader.id_field() == ("log_id" if template else "log_id.keyword")
    for identity in tries:
        messages = read_messages(logs, identity)
        assert messages == [f"{identity.run_id} #{n}" for n in range(3)] + [logs.settings.end_of_log_mark]
    queries = [json.dumps(request) for request in es.cluster.requests if request[1].endswith("_search")]
    assert queries and not any("query_string" in q or "match_phrase" in q for q in queries)


def test_lost_end_mark_with_the_task_finished_ends_within_the_bound(es) -> None:
    logs = task_logs(es, end_of_log_timeout=1.5)
    writer = logs.open_writer(TRY)
    write_lines(writer, ["only line"])
    assert writer.finish(ended=False) is True  # the pod was killed before the mark
    logs.client.indices.refresh(index="airflow-logs*")
    reader = logs.reader()
    started = time.monotonic()
    lines = list(reader.follow(logs.log_id(TRY), task_finished=lambda: True))
    elapsed = time.monotonic() - started
    assert [line.message for line in lines] == ["only line"]
    assert 1.0 <= elapsed < 1.5 + 1.0, elapsed


@pytest.mark.server
def test_an_old_log_without_mark_ends_at_once_and_a_running_task_is_followed_until_it_ends() -> None:
    """Following a running try reads what Elasticsearch's periodic refresh makes searchable: this test runs the
    stand-in with the default one-second refresh, as a cluster has it."""
    with running_es() as live:
        logs = task_logs(live, end_of_log_timeout=5)
        old = TryIdentity("dag", "old", "run", 1)
        writer = logs.open_writer(old)
        write_lines(writer, ["from last week"], time.time_ns() - 7 * 86_400 * 10**9)
        writer.finish(ended=False)
        live.refresh()
        started = time.monotonic()
        assert [line.message for line in logs.reader().follow(logs.log_id(old), lambda: True)] == [
            "from last week"
        ]
        assert time.monotonic() - started < 1

        running = logs.open_writer(TRY)
        write_lines(running, ["started"])
        running.finish(ended=False)  # delivered now; the try is still running
        running = logs.open_writer(TRY)
        followed: list[str] = []
        deadline = time.monotonic() + 30
        for line in logs.reader().follow(logs.log_id(TRY), task_finished=lambda: time.monotonic() > deadline):
            followed.append(line.message)
            if line.message == "started":
                write_lines(running, ["more"])
                running.finish()
        assert followed == ["started", "more", logs.settings.end_of_log_mark]


def test_lines_page_with_search_after_and_never_ask_past_the_result_window(es) -> None:
    logs = task_logs(es, page_size=250)
    writer = logs.open_writer(TRY)
    write_lines(writer, [f"n{n}" for n in range(12_345)])
    writer.finish()
    assert len(read_messages(logs)) == 12_346
    searches = [params for method, path, params in es.cluster.requests if path.endswith("_search")]
    assert len(searches) >= 12_346 // 250
    assert "from" not in json.dumps(searches)


def test_index_patterns_read_across_indices_and_hosts_are_grouped(es) -> None:
    first = task_logs(es, target_index="airflow-logs-2026.11.20", host="pod-a")
    writer = first.open_writer(TRY)
    write_lines(writer, ["on a 1", "on a 2", "Pausing task as DEFERRED. "])
    writer.finish(ended=False)  # the adapter ends no try that paused
    second = task_logs(
        es, target_index="airflow-logs-2026.11.21", host="pod-b", index_patterns="airflow-logs-*"
    )
    second.client.indices.refresh(index="airflow-logs-*")
    writer = second.open_writer(TRY)
    write_lines(writer, ["on b 1"])
    writer.finish()
    second.client.indices.refresh(index="airflow-logs-*")
    groups, metadata = read_increment(second, TRY, {}, task_finished=True, max_lines=100)
    assert groups == [("pod-a", "on a 1\non a 2\nPausing task as DEFERRED. "), ("pod-b", "on b 1")]
    assert metadata["end_of_log"] is True
    streamed = [json.loads(line)["event"] for line in airflow3_lines(second, TRY, follow=True)]
    assert streamed == [
        "on a 1",
        "on a 2",
        "Pausing task as DEFERRED. ",
        "*** Airglow: continued on host pod-b",
        "on b 1",
    ]


def test_incremental_reads_resume_at_the_offset_and_report_end_of_log(es) -> None:
    logs = task_logs(es)
    writer = logs.open_writer(TRY)
    write_lines(writer, [f"l{n}" for n in range(25)])
    writer.finish()
    logs.client.indices.refresh(index="airflow-logs*")
    metadata: dict = {}
    seen: list[str] = []
    for _ in range(10):
        groups, metadata = read_increment(logs, TRY, metadata, task_finished=True, max_lines=10)
        seen += [line for _, text in groups for line in text.split("\n")]
        if metadata["end_of_log"]:
            break
    assert seen == [f"l{n}" for n in range(25)]
    assert metadata["end_of_log"] is True


def test_data_stream_target_and_install_template_command(es) -> None:
    out = io.StringIO()
    args = ["--hosts", es.url, "--target-index", "logs-airflow-task"]
    assert cli.main([*args, "install-template", "--data-stream"], out=out) == 0
    template = es.cluster.templates["airglow-task-logs"]
    assert template["data_stream"] == {} and template["index_patterns"] == ["logs-airflow-task"]
    properties = template["template"]["mappings"]["properties"]
    assert properties["log_id"] == {"type": "keyword"} and properties["offset"] == {"type": "long"}
    assert properties["deployment"] == {"type": "keyword"} and properties["extra"]["enabled"] is False
    logs = EsTaskLogs(EsLogSettings.build(hosts=es.url, writer="bulk", target_index="logs-airflow-task"))
    writer = logs.open_writer(TRY)
    writer.write(LogEvent("with extras", time.time_ns(), extra={"offset": "text here cannot conflict"}))
    writer.finish()
    assert list(es.cluster.data_streams) == ["logs-airflow-task"]
    assert read_messages(logs) == ["with extras", "end_of_log"]
    printed = io.StringIO()
    assert (
        cli.main(
            [*args, "read", "--dag", TRY.dag_id, "--task", TRY.task_id, "--run", TRY.run_id, "--try", "1"],
            out=printed,
        )
        == 0
    )
    assert printed.getvalue() == "with extras\n"
    missing = io.StringIO()  # no such log: exit 1 (docs/cli.md), nothing printed
    assert (
        cli.main([*args, "read", "--dag", "nope", "--task", "t", "--run", "r", "--try", "1"], out=missing)
        == 1
    )
    assert missing.getvalue() == ""


def test_documents_carry_identity_deployment_and_airflow3_shape(es) -> None:
    logs = task_logs(es, host="worker-7")
    writer = logs.open_writer(TRY)
    writer.write(
        LogEvent.from_structlog(
            {
                "event": "hello",
                "level": "warning",
                "logger": "airflow.task",
                "timestamp": "2026-11-21T10:00:00.123456Z",
                "chan": "stdout",
            }
        )
    )
    writer.finish()
    logs.client.indices.refresh(index="airflow-logs*")
    first = next(logs.reader().lines(logs.log_id(TRY)))
    assert first.source | {"offset": 0} == {
        "@timestamp": "2026-11-21T10:00:00.123456Z",
        "offset": 0,
        "level": "warning",
        "logger": "airflow.task",
        "message": "hello",
        "log_id": "etl-load-manual__2026-11-21T00:00:00+00:00--1-1",
        "host": "worker-7",
        "deployment": "prod",
        "dag_id": "etl",
        "task_id": "load",
        "run_id": TRY.run_id,
        "map_index": -1,
        "try_number": 1,
        "extra": {"chan": "stdout"},
    }
    line = json.loads(next(airflow3_lines(logs, TRY, follow=True)))
    assert line == {
        "timestamp": "2026-11-21T10:00:00.123456Z",
        "level": "warning",
        "event": "hello",
        "logger": "airflow.task",
        "chan": "stdout",
    }


def test_frontend_link_quotes_the_log_id() -> None:
    template = "kibana.example:5601/app/discover#/?_a=(query:(query:'log_id:\"{log_id}\"'))"
    url = frontend_url(template, 'a"b c/&')
    assert url.startswith("https://kibana.example:5601/") and "a%22b%20c%2F%26" in url


@pytest.mark.parametrize(
    ("options", "setting"),
    [
        ({"writer": "kafka"}, "writer"),
        ({"log_id_template": "{dag_id}-{execution_date}"}, "log_id_template"),
        ({"log_id_template": "{dag_id"}, "log_id_template"),
        ({"hosts": "elasticsearch:9200"}, "host"),
        ({"target_index": "Airflow Logs"}, "target_index"),
        ({"page_size": 20_000}, "page_size"),
        ({"end_of_log_timeout": 0}, "end_of_log_timeout"),
        ({"frontend": "kibana/no-placeholder"}, "frontend"),
        ({"colour": "blue"}, "elasticsearch"),
        ({"batch_size": "many"}, "batch_size"),
    ],
)
def test_bad_settings_are_rejected_with_the_setting_named(options, setting) -> None:
    with pytest.raises(LogConfigError) as error:
        EsLogSettings.build(**options)
    assert error.value.setting == setting


def test_credentials_in_host_urls_never_reach_errors() -> None:
    with pytest.raises(LogConfigError) as error:
        EsLogSettings.build(hosts="ftp://elastic:s3cret@es:9200")
    assert "s3cret" not in str(error.value)


def test_stdout_sink_writes_to_the_real_stdout_not_a_redirected_one(capfd, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdout", io.StringIO())  # Airflow 2 redirects sys.stdout into the task log
    StdoutSink().send({"log_id": "x", "message": "to the container"})
    assert '"message":"to the container"' in capfd.readouterr().out


def test_the_sinks_own_log_lines_are_not_sent_back_into_the_sink(es) -> None:
    logs = task_logs(es)
    writer = logs.open_writer(TRY)
    for logger in (
        "elastic_transport.transport",
        "urllib3.connectionpool",
        "airglow.log_handlers.elasticsearch.sinks",
    ):
        writer.write(LogEvent("PUT /_bulk [status:200]", time.time_ns(), logger=logger))
    writer.write(LogEvent("the task's own line", time.time_ns(), logger="airflow.task"))
    writer.finish()
    assert read_messages(logs) == ["the task's own line", "end_of_log"]


def _write_try(logs: EsTaskLogs, identity: TryIdentity, *messages: str) -> None:
    writer = logs.open_writer(identity)
    for message in messages:
        writer.write(LogEvent(message, time.time_ns()))
    writer.finish()


def test_es_logs_command_reads_the_latest_try_with_options_before_or_after_the_subcommand(es) -> None:
    logs = task_logs(es)
    _write_try(logs, TRY, "first try")
    _write_try(logs, dataclasses.replace(TRY, try_number=2), "second try")
    logs.client.indices.refresh(index="airflow-logs*")
    ids = ["--dag", TRY.dag_id, "--task", TRY.task_id, "--run", TRY.run_id]
    for argv in (["--hosts", es.url, "read", *ids], ["read", *ids, "--hosts", es.url]):
        printed = io.StringIO()
        assert cli.main(argv, out=printed) == 0
        assert printed.getvalue() == "second try\n"  # no --try: the latest
    printed = io.StringIO()
    assert cli.main(["read", *ids, "--try", "1", "--hosts", es.url], out=printed) == 0
    assert printed.getvalue() == "first try\n"
    assert cli.main(["read", "--dag", "none", "--task", "t", "--run", "r", "--hosts", es.url]) == 1


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made by the openssl command."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_es_logs_command_speaks_tls_with_an_api_key_or_basic_auth(tmp_path, monkeypatch, capsys) -> None:
    cert, key = _self_signed(tmp_path)
    api_key, user, password = "c2VjcmV0LWtleQ==", "reader", "s3cret"
    accepted = frozenset(
        {f"ApiKey {api_key}", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
    )
    monkeypatch.setenv("AIRGLOW_ES_API_KEY", api_key)
    monkeypatch.setenv("AIRGLOW_ES_USER", user)
    monkeypatch.setenv("AIRGLOW_ES_PASSWORD", password)
    with running_es(refresh_interval=None, tls=(cert, key), credentials=accepted) as server:
        assert server.url.startswith("https://")
        tls = ["--hosts", server.url, "--ca-certs", str(cert)]
        assert cli.main([*tls, "--api-key", "install-template"], out=io.StringIO()) == 0
        client = {"ca_certs": str(cert), "api_key": api_key}
        logs = EsTaskLogs(EsLogSettings.build(hosts=server.url, writer="bulk", client_options=client))
        _write_try(logs, TRY, "over TLS")
        server.refresh()
        ids = ["--dag", TRY.dag_id, "--task", TRY.task_id, "--run", TRY.run_id]
        for auth in ("--api-key", "--basic-auth"):
            printed = io.StringIO()
            assert cli.main(["read", *ids, *tls, auth], out=printed) == 0, capsys.readouterr().err
            assert printed.getvalue() == "over TLS\n"
        capsys.readouterr()
        assert cli.main(["read", *ids, *tls]) == 2  # refused credentials: the settings are at fault
        assert "security_exception" in capsys.readouterr().err
        assert cli.main(["read", *ids, "--hosts", server.url, "--api-key"]) == 3  # the server is not trusted
        assert "CERTIFICATE_VERIFY_FAILED" in capsys.readouterr().err
        monkeypatch.delenv("AIRGLOW_ES_PASSWORD")
        assert cli.main(["read", *ids, *tls, "--basic-auth"]) == 2
        assert "set $AIRGLOW_ES_PASSWORD" in capsys.readouterr().err
        assert password not in str(server.cluster.requests)  # secrets stay in headers, never in a URL


def test_es_logs_check_finds_what_is_missing_and_leaves_nothing_behind(tmp_path, monkeypatch) -> None:
    cert, key = _self_signed(tmp_path)
    api_key = "Y2hlY2sta2V5"
    monkeypatch.setenv("AIRGLOW_ES_API_KEY", api_key)
    with running_es(refresh_interval=None, tls=(cert, key), credentials={f"ApiKey {api_key}"}) as server:
        endpoint = ["--hosts", server.url, "--ca-certs", str(cert), "--target-index", "logs-airflow-task"]

        def check(*extra: str) -> tuple[int, str]:
            printed = io.StringIO()
            return cli.main([*endpoint, *extra, "check"], out=printed), printed.getvalue()

        code, report = check()
        assert code == 2 and "reach the cluster: FAILED" in report and "credentials are refused" in report
        code, report = check("--api-key")
        assert code == 2 and "find the index template airglow-task-logs: FAILED" in report
        assert "airglow-es-logs install-template" in report
        assert cli.main([*endpoint, "--api-key", "install-template", "--data-stream"], out=io.StringIO()) == 0
        code, report = check("--api-key")
        assert code == 0 and report.count(": ok") == 5, report
        stored = [s for index in server.cluster.indices.values() for s in [*index.visible, *index.pending]]
        assert stored == [], "the probe document is deleted"
    dead = f"http://127.0.0.1:{free_port()}"
    printed = io.StringIO()
    assert cli.main(["--hosts", dead, "check"], out=printed) == 3
    assert "reach the cluster: FAILED" in printed.getvalue()
