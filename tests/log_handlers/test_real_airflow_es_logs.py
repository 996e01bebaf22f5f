"""Real Airflow sends task logs to (stand-in) Elasticsearch through Airglow, and reads them back through its
own API with the local log gone: Airflow 3.3.2 across a deferral (trigger lines included), Airflow 2.11
through the ``ElasticsearchTaskHandler``-compatible handler."""

from __future__ import annotations

import json
import shutil
import urllib.parse

import pytest
from support import airflow2_probe as airflow2
from support import airflow3_probe as airflow3
from support.airflow_deployment import run_python, running_airflow
from support.common import wait_until
from support.es_server import EsServer, running_es

from airglow.log_handlers.elasticsearch.settings import EsLogSettings
from airglow.log_handlers.elasticsearch.task_logs import EsTaskLogs
from airglow.log_handlers.try_identity import TryIdentity

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.airflow]
FRONTEND = "kibana.example/app/discover#/?_a=(query:(query:'log_id:\"{log_id}\"'))"


def es_logging_env(es: EsServer) -> dict[str, str]:
    return {
        "AIRFLOW__LOGGING__REMOTE_LOGGING": "True",
        "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": f"airglow+es://{es.url.removeprefix('http://')}",
        "AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS": "airglow.log_handlers.airflow.logging_config.LOGGING_CONFIG",
        "AIRFLOW__LOGGING__REMOTE_TASK_HANDLER_KWARGS": json.dumps(
            {"writer": "bulk", "flush_interval": 0.5, "deployment": "airflow-test"}
        ),
        "AIRFLOW__ELASTICSEARCH__FRONTEND": FRONTEND,
    }


def stored_log(es: EsServer, identity: TryIdentity) -> list[dict]:
    logs = EsTaskLogs(EsLogSettings.build(hosts=es.url))
    logs.client.indices.refresh(index="airflow-logs*")
    return [line.source for line in logs.reader().lines(logs.log_id(identity))]


def test_airflow3_task_log_survives_a_deferral_in_elasticsearch_and_the_api_reads_it(airflow_bin, tmp_path):
    with (
        running_es() as es,
        running_airflow(
            airflow_bin, tmp_path / "airflow", {airflow3.DAG_ID: airflow3.DAG}, es_logging_env(es)
        ) as airflow,
    ):
        run_id = airflow.trigger(airflow3.DAG_ID)
        assert airflow.wait_for_run(airflow3.DAG_ID, run_id) == "success", (
            tmp_path / "airflow" / "airflow.log"
        ).read_text()[-5000:]
        identity = TryIdentity(airflow3.DAG_ID, airflow3.TASK_ID, run_id, 1)
        wait_until(
            lambda: (docs := stored_log(es, identity)) and docs[-1].get("mark") == "end",
            60,
            0.5,
            what="the end mark after the supervisor's upload",
        )
        shutil.rmtree(tmp_path / "airflow" / "logs" / f"dag_id={airflow3.DAG_ID}")

        quoted = urllib.parse.quote(run_id, safe="")
        body = airflow.get(
            f"/api/v2/dags/{airflow3.DAG_ID}/dagRuns/{quoted}/taskInstances/{airflow3.TASK_ID}/logs/1",
            full_content="true",
        )
        events = [entry.get("event", "") for entry in body["content"]]
        ours = [event for event in events if event.startswith("airglow line")]
        assert ours == [f"airglow line {n:04d}" for n in range(airflow3.LINES)]
        assert "end_of_log" not in events, "the end mark is not shown"
        docs = stored_log(es, identity)
        assert sum(1 for doc in docs if doc.get("mark") == "end") == 1, "one end mark: none at the deferral"
        assert {doc["deployment"] for doc in docs} == {"airflow-test"}
        assert any("trigger" in doc["message"].lower() for doc in docs), "the trigger's lines join the log"
        offsets = [doc["offset"] for doc in docs]
        assert offsets == sorted(set(offsets))


READ_BACK = f"""
import json
from airflow.models import TaskInstance
from airflow.utils.log.log_reader import TaskLogReader
from airflow.utils.session import create_session

with create_session() as session:
    ti = session.query(TaskInstance).filter_by(
        dag_id="{airflow2.DAG_ID}", task_id="{airflow2.TASK_ID}", run_id="{airflow2.RUN_ID}"
    ).one()
    ti.dag = None
    reader = TaskLogReader()
    logs, metadata = reader.read_log_chunks(ti, ti.try_number, {{}})
    handler = reader.log_handler
    result = {{
        "logs": logs,
        "metadata": metadata,
        "handler": type(handler).__name__,
        "external": handler.get_external_log_url(ti, ti.try_number) if handler.supports_external_link else None,
        "try_number": ti.try_number,
    }}
print(json.dumps(result))
"""


def test_airflow2_handler_sends_records_and_reads_them_grouped_by_host(airflow2_bin, tmp_path) -> None:
    with running_es() as es:
        env = airflow2.run_probe_dag(airflow2_bin, tmp_path / "airflow", es_logging_env(es))
        identity = TryIdentity(airflow2.DAG_ID, airflow2.TASK_ID, airflow2.RUN_ID, 1)
        wait_until(lambda: stored_log(es, identity), 30, 0.5, what="task log documents")
        result = run_python(airflow2_bin, READ_BACK, env)

    assert result["handler"] == "AirglowEsTaskHandler"
    assert result["metadata"]["end_of_log"] is True
    (groups,) = result["logs"]  # one try: [(host, text), ...]
    hosts = [host for host, _ in groups]
    assert len(hosts) == len(set(hosts)) >= 1
    text = "\n".join(message for _, message in groups)
    found = [line.rsplit("airglow line ", 1)[1][:4] for line in text.split("\n") if "airglow line" in line]
    assert found == [f"{n:04d}" for n in range(airflow2.LINES)]
    log_id = urllib.parse.quote(f"{airflow2.DAG_ID}-{airflow2.TASK_ID}-{airflow2.RUN_ID}--1-1", safe="")
    assert result["external"] == "https://" + FRONTEND.replace("{log_id}", log_id)
