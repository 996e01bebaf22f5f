"""``airglow-bridge explain``: what users run to debug a mapping file."""

from __future__ import annotations

import json
import subprocess

from support.bridge_process import bridge_command
from support.common import ROOT

MAPPING = """
mappings:
- match: app.*.requests
  name: requests
  labels:
    service: $1
- match: app.debug.*
  name: ignored
  action: drop
- match: app.*.latency
  name: latency_seconds
  observer_type: histogram
  scale: 2
"""


def _explain(tmp_path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    mapping = tmp_path / "mapping.yml"
    mapping.write_text(MAPPING)
    return subprocess.run(
        bridge_command("explain", f"--statsd.mapping-config={mapping}", *args),
        cwd=ROOT,
        input=stdin.encode(),
        capture_output=True,
        timeout=30,
    )


def test_json_prints_one_object_per_line(tmp_path) -> None:
    lines = [
        "app.web.requests:1|c|@0.5|#env:prod",
        "app.debug.x:1|c",
        "app.web.latency:250|ms",
        "other.thing:2|g",
        "broken",
        "x:1|c:nope|c",
    ]
    result = _explain(tmp_path, "--json", stdin="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    objects = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [o["line"] for o in objects] == lines
    assert objects[0]["samples"] == [
        {
            "name": "requests",
            "type": "counter",
            "value": 2.0,
            "labels": {"env": "prod", "service": "web"},
            "rule": 0,
            "action": "map",
        }
    ]
    assert objects[1]["samples"][0]["action"] == "drop" and objects[1]["samples"][0]["rule"] == 1
    assert objects[2]["samples"][0] | {} == {
        "name": "latency_seconds",
        "type": "histogram",
        "value": 0.5,
        "labels": {},
        "rule": 2,
        "action": "map",
    }
    assert objects[3]["samples"] == [
        {
            "name": "other_thing",
            "type": "gauge",
            "value": 2.0,
            "labels": {},
            "rule": None,
            "action": "unmapped",
        }
    ]
    assert objects[4] == {"line": "broken", "samples": [], "errors": ["malformed_line"]}
    assert objects[5]["errors"] == ["malformed_value"] and len(objects[5]["samples"]) == 1


def test_parser_flags_apply(tmp_path) -> None:
    result = _explain(tmp_path, "--json", "--no-statsd.parse-influxdb-tags", "app.web.requests,env=x:1|c")
    sample = json.loads(result.stdout)["samples"][0]
    assert (sample["name"], sample["action"]) == ("app_web_requests_env_x", "unmapped")


def test_human_output_names_the_rule_and_its_line(tmp_path) -> None:
    result = _explain(tmp_path, "app.web.requests:1|c", "bad")
    text = result.stdout.decode()
    assert 'map: counter requests{service="web"} 1.0' in text
    assert "mapping.yml:3, match 'app.*.requests'" in text
    assert "error: malformed_line" in text


def test_twins_are_paired_across_lines_as_the_bridge_pairs_them() -> None:
    lines = [
        "airflow.ti.finish.etl.grp__load.success:1|c",
        "airflow.ti.finish:1|c|#dag_id:etl,task_id:grp.load,state:success",
        "airflow.ti.start:1|c",
        "airflow.ti.start.etl.load:1|c",
    ]
    result = subprocess.run(
        bridge_command("explain", "--json", *lines), cwd=ROOT, capture_output=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    out = [json.loads(line)["samples"][0] for line in result.stdout.decode().splitlines()]
    assert [sample["twin"]["form"] for sample in out] == ["legacy", "tagged", "bare", "legacy"]
    assert out[0]["twin"]["decision"].startswith("counted: the first form of its event")
    assert out[1]["twin"]["decision"] == "dropped: its twin came first and was counted"
    assert out[2]["twin"]["decision"].startswith("waits 1 to 2 s for its legacy twin")
    assert out[3]["twin"]["decision"].startswith("counted for both: its bare twin")
    assert out[0]["labels"] == out[1]["labels"]  # both forms land on one series
    assert out[0]["labels"]["task_id"] == "grp.load"  # Airflow 3.3's escaped dot, read back
