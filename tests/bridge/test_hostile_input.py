"""The bridge under hostile and broken input, scraped by a real Prometheus and checked by promtool.

Every line of the adversarial report is replayed, plus a seeded fuzz of a million lines built from the
forms that broke the exposition (reserved labels, empty names, suffix collisions, extreme sample rates,
non-finite values): the target stays up, every scrape parses in both formats, every line is counted.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text
from support.bridge_process import bridge_command
from support.common import ROOT, free_port, http_get, parse_exposition, require_binary, wait_until
from support.hostile_lines import fuzz_lines

pytestmark = pytest.mark.slow

OPENMETRICS = {"Accept": "application/openmetrics-text; version=1.0.0"}
# Timers default to summaries (statsd_exporter's default) so that the quantile label collides; hist.* and
# hh are histograms so that the le label does.
MAPPING = """defaults:
  observer_type: summary
mappings:
- match: "hist.*"
  observer_type: histogram
  name: "hist"
- match: "hh"
  observer_type: histogram
  name: "hh"
- match: "kept.*"
  name: "kept_total"
"""
# Each line of the adversarial report, with the reason it is now counted under.
REPORTED = {
    "hh:1|ms|#le:5": ("statsd_exporter_sample_errors_total", "reserved_label_name"),
    "tt:1|c|#__name__:x": ("statsd_exporter_sample_errors_total", "reserved_label_name"),
    ",k=v:1|c": ("statsd_exporter_events_error_total", "empty_metric_name"),
    "[k=v]:1|ms": ("statsd_exporter_events_error_total", "empty_metric_name"),
    "#k=v:1|g": ("statsd_exporter_events_error_total", "empty_metric_name"),
    "_total:1|c": ("statsd_exporter_sample_errors_total", "invalid_metric_name"),
    "ss:1|ms|#quantile:0.5": ("statsd_exporter_sample_errors_total", "reserved_label_name"),
    "uu:1|c|#__x:1": ("statsd_exporter_sample_errors_total", "reserved_label_name"),
    "statsd_exporter_lines_total:1000000|c": ("statsd_exporter_sample_errors_total", "reserved_metric_name"),
    "process_resident_memory_bytes:1|g": ("statsd_exporter_sample_errors_total", "reserved_metric_name"),
    "airglow_bridge_series:1|g": ("statsd_exporter_sample_errors_total", "reserved_metric_name"),
    "nan_counter:NaN|c": ("statsd_exporter_sample_errors_total", "non_finite_value"),
    "nan_timer:NaN|ms": ("statsd_exporter_sample_errors_total", "non_finite_value"),
    "inf_timer:-Inf|ms": ("statsd_exporter_sample_errors_total", "non_finite_value"),
    "amp:1|ms|@0.0000001": ("statsd_exporter_sample_errors_total", "sample_rate_too_low"),
}
# Pairs that collide in the exposition: the second of each is a type conflict.
COLLISIONS = [
    "x:1|c",
    "x_total:1|c",
    "y_count:1|c",
    "y:1|ms",
    "z:1|ms",
    "z_sum:1|g",
    "hist.a:1|ms",
    "hist_bucket:1|g",
]


def send_tcp(port: int, lines: list[str]) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for start in range(0, len(lines), 20_000):
            sock.sendall(("\n".join(lines[start : start + 20_000]) + "\n").encode())


def check_scrape(url: str) -> tuple[str, str]:
    """Both formats parse with client_python's strict parsers and promtool finds no parse error."""
    status, text, _ = http_get(url)
    assert status == 200
    status, om, _ = http_get(url, OPENMETRICS)
    assert status == 200
    families = list(parse_text(text.decode()))
    assert families and list(parse_openmetrics(om.decode()))
    promtool = subprocess.run(
        [require_binary("promtool"), "check", "metrics"], input=text, capture_output=True, timeout=60
    )
    # Exit 3 is lint only; what may remain are conventions on how a metric is named, which statsd_exporter's
    # own names break (its counters carry no _total) and users' statsd names may (*_count, camelCase, ms).
    # Nothing about labels (le, quantile), duplicates or parsing is allowed.
    problems = [line for line in promtool.stderr.decode().splitlines() if line.strip()]
    allowed = ("suffix", "metric names should")
    unexpected = [line for line in problems if not any(mark in line for mark in allowed)]
    assert not unexpected, unexpected
    return text.decode(), om.decode()


def test_hostile_corpus_and_a_million_fuzzed_lines_keep_prometheus_scraping(
    bridge_factory, prometheus_factory, tmp_path
) -> None:
    mapping = tmp_path / "mapping.yml"
    mapping.write_text(MAPPING)
    bridge = bridge_factory(f"--statsd.mapping-config={mapping}")
    prometheus = prometheus_factory(
        f"scrape_configs:\n  - job_name: bridge\n    static_configs:\n      - targets: ['127.0.0.1:{bridge.http_port}']\n"
    )
    prometheus.wait_for_value('up{job="bridge"}', 1)
    corpus = [*REPORTED, *COLLISIONS, "amp2:1|ms|@0.000001", "ok_after:1|c"]
    send_tcp(bridge.statsd_port, corpus)
    bridge.wait_for("statsd_exporter_lines_total", len(corpus))
    samples = parse_exposition(check_scrape(bridge.url + "/metrics")[0])
    for line, (metric, reason) in REPORTED.items():
        assert samples.get((metric, (("reason", reason),)), 0) >= 1, line
    assert samples[("statsd_exporter_lines_total", ())] == len(corpus)  # the forged value did not land
    assert samples[("ok_after", ())] == 1
    conflicts = {labels for name, labels in samples if name == "statsd_exporter_events_conflict_total"}
    assert {dict(labels)["metric_name"] for labels in conflicts} >= {"x_total", "y", "z_sum", "hist_bucket"}
    assert samples[("amp2_count", ())] == 1_000_000  # one packet standing for 10^6 observations, at O(1)

    fuzz = fuzz_lines(1_000_000)
    started = time.time()
    send_tcp(bridge.statsd_port, fuzz)
    while bridge.value("statsd_exporter_lines_total") != len(corpus) + len(fuzz):
        check_scrape(bridge.url + "/metrics")
        assert time.time() - started < 600, "fuzz not processed in 10 minutes"
        time.sleep(2)
    check_scrape(bridge.url + "/metrics")
    time.sleep(3)  # Prometheus scrapes the final state at least twice
    window = f"{int(time.time() - started) + 60}s"
    up = prometheus.query(f'min_over_time(up{{job="bridge"}}[{window}])')
    scrapes = prometheus.query(f'count_over_time(up{{job="bridge"}}[{window}])')
    assert float(up[0]["value"][1]) == 1, "Prometheus saw the bridge down"
    assert float(scrapes[0]["value"][1]) >= 5
    assert prometheus.query('statsd_exporter_lines_total{job="bridge"}')[0]["value"][1] == str(
        len(corpus) + len(fuzz)
    )


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(field)


def threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("Threads")


def timed_get(url: str, headers: dict | None = None) -> tuple[float, int, bytes]:
    started = time.monotonic()
    status, body, _ = http_get(url, headers)
    return time.monotonic() - started, status, body


@pytest.mark.parametrize("observer", ["summary", "histogram"])
def test_amplification_packets_cost_no_more_than_any_other(bridge_factory, tmp_path, observer) -> None:
    mapping = tmp_path / "mapping.yml"
    mapping.write_text(f"defaults:\n  observer_type: {observer}\nmappings: []\n")
    bridge = bridge_factory(f"--statsd.mapping-config={mapping}")
    for rate in ("0.0000001", "0.000001", "1e-300", "0.00001"):
        bridge.send_udp(f"amp:1|ms|@{rate}".encode())
    bridge.wait_for("statsd_exporter_lines_total", 4)
    elapsed, status, body = timed_get(bridge.url + "/metrics")
    assert status == 200 and elapsed < 1.0, elapsed
    samples = parse_exposition(body.decode())
    assert samples[("amp_count", ())] == int(1 / 0.000001) + int(1 / 0.00001)  # Go's int(1 / rate)
    assert samples[("statsd_exporter_sample_errors_total", (("reason", "sample_rate_too_low"),))] == 2
    elapsed, status, _ = timed_get(bridge.url + "/-/healthy")
    assert status == 200 and elapsed < 1.0
    assert rss_mib(bridge.process.pid, "VmHWM") < 200


MANIFEST_LIMIT_MIB = 512  # manifests/base/deployment.yaml: resources.limits.memory


def stream(port: int, lines) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        batch: list[str] = []
        for line in lines:
            batch.append(line)
            if len(batch) == 10_000:
                sock.sendall(("\n".join(batch) + "\n").encode())
                batch = []
        if batch:
            sock.sendall(("\n".join(batch) + "\n").encode())


def datagrams(path: str, lines) -> None:
    """One line per datagram (lines of any length, which TCP would refuse) over the Unixgram socket, where a
    full receive queue makes the sender wait instead of losing lines: the point here is memory, not loss."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        for line in lines:
            sock.sendto(line.encode(), path)


def fill(bridge, lines: int, scenario, send=stream, to=None) -> None:
    send(to or bridge.statsd_port, scenario)
    wait_until(
        lambda: bridge.exposed("statsd_exporter_lines_total") == lines,
        timeout=600,
        interval=1,
        what="lines in",
    )


def test_memory_under_the_manifests_limit_with_default_flags(bridge_factory, tmp_path) -> None:
    """Each scenario of the report in its own bridge with default flags (the Airflow preset), then a scrape."""
    tags = "x" * 10_000
    scenarios = {
        "50k histogram series": (
            50_000,
            (f"airflow.task.duration:5|ms|#dag_id:d{i},task_id:t" for i in range(50_000)),
            stream,
        ),
        "200k series": (200_000, (f"app.m{i % 5}:1|c|#id:s{i}" for i in range(200_000)), stream),
        "21,912 series with 10 KB tags": (
            21_912,
            (f"airflow.ti.finish:1|c|#dag_id:d{i}{tags},task_id:t,state:success" for i in range(21_912)),
            datagrams,
        ),
    }
    unixgram = str(tmp_path / "statsd.sock")
    for what, (lines, scenario, send) in scenarios.items():
        bridge = bridge_factory("--airglow.deployment=test", f"--statsd.listen-unixgram={unixgram}")
        fill(bridge, lines, scenario, send, unixgram if send is datagrams else None)
        status, body, _ = http_get(bridge.url + "/metrics")
        assert status == 200
        samples = parse_exposition(body.decode())
        peak = rss_mib(bridge.process.pid, "VmHWM")
        dropped = {
            dict(k)["limit"]: v for (n, k), v in samples.items() if n == "airglow_bridge_series_dropped_total"
        }
        print(
            f"{what}: peak RSS {peak:.0f} MiB, {samples[('airglow_bridge_series', ())]:.0f} series, dropped {dropped}"
        )
        assert peak < MANIFEST_LIMIT_MIB, what
        bridge.stop()


def wait_http_timeouts(bridge, count: int, timeout: float) -> None:
    wait_until(
        lambda: bridge.exposed('airglow_bridge_connections_timed_out_total{listener="http"}') >= count,
        timeout=timeout,
        interval=1,
        what=f"{count} HTTP connections timed out",
    )


def test_clients_that_do_not_read_cannot_hold_memory_or_starve_scrapes(bridge_factory) -> None:
    bridge = bridge_factory("--airglow.deployment=test", udp=False)
    tasks = 30_000
    fill(
        bridge, tasks, (f"airflow.task.duration:5|ms|#dag_id:dag_{i},task_id:task_{i}" for i in range(tasks))
    )
    _, status, body = timed_get(bridge.url + "/metrics")
    assert status == 200 and len(body) > 30 * 2**20, len(body)
    stalled = []
    for _ in range(50):
        sock = socket.create_connection(("127.0.0.1", bridge.http_port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        stalled.append(sock)
    try:
        time.sleep(5)
        elapsed, status, _ = timed_get(bridge.url + "/-/healthy")
        assert status == 200 and elapsed < 1.0
        elapsed, status, body = timed_get(bridge.url + "/metrics")
        assert status == 200 and len(body) > 30 * 2**20  # 64 responses may stream at once: not starved
        peak = rss_mib(bridge.process.pid, "VmHWM")
        print(
            f"50 stalled scrapes of {len(body) / 2**20:.0f} MiB: peak RSS {peak:.0f} MiB, a scrape took {elapsed:.1f} s"
        )
        assert peak < MANIFEST_LIMIT_MIB
        # The write deadline (30 s) drops them, counted.
        wait_http_timeouts(bridge, 50, timeout=90)
    finally:
        for sock in stalled:
            sock.close()


BROKEN = {
    "control character": "mappings:\n- match: a.b\n  name: x\x01\n",
    "3,000 nested lists": "mappings: " + "[" * 3000 + "]" * 3000 + "\n",
    "deep block nesting": "mappings:\n" + "".join("  " * i + "- \n" for i in range(1, 200)),
    "alias bomb": "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + "mappings: []\n",
    "too many aliases": "a: &a 1\nb: [" + ", ".join(["*a"] * 20_000) + "]\n",
    "huge file": "# " + "x" * (5 * 2**20) + "\nmappings: []\n",
    "invalid YAML": "mappings: [\n",
    "bad regex": "mappings:\n- match: 'a(['\n  match_type: regex\n  name: x\n",
    "unknown field": "mappings:\n- match: a.b\n  name: x\n  nmae: y\n",
    "reserved label": "mappings:\n- match: a.*\n  name: x\n  labels:\n    le: $1\n",
}
GOOD = "mappings:\n- match: 'kept.*'\n  name: kept_total\n"


def test_twenty_broken_reloads_while_lines_flow(bridge_factory, tmp_path) -> None:
    mapping = tmp_path / "mapping.yml"
    mapping.write_text(GOOD)
    bridge = bridge_factory(f"--statsd.mapping-config={mapping}", "--web.enable-lifecycle")
    kinds = list(BROKEN.items()) * 2
    sent = 0
    for what, text in kinds:
        mapping.write_bytes(text.encode("utf-8"))
        bridge.send_tcp(b"kept.a:1|c\n")
        sent += 1
        started = time.monotonic()
        status, body, _ = http_get(bridge.url + "/-/reload", method="POST")
        assert status == 500, (what, status, body)
        assert b"Reload failed; old mapping kept: " in body and str(mapping).encode() in body, (what, body)
        assert time.monotonic() - started < 5, what
    bridge.wait_for("kept_total", sent)  # the old mapping still maps
    assert bridge.value("statsd_exporter_config_reloads_total", outcome="failure") == len(kinds)
    assert bridge.value("statsd_exporter_config_reloads_total", outcome="success") == 0
    log = bridge.stop()
    assert "Traceback" not in log
    assert log.count("Error reloading config, keeping the previous mapping") == len(kinds)


@pytest.mark.parametrize("what", list(BROKEN))
def test_broken_mapping_at_start_up_exits_with_file_line_and_reason(tmp_path, what) -> None:
    mapping = tmp_path / "mapping.yml"
    mapping.write_bytes(BROKEN[what].encode("utf-8"))
    started = time.monotonic()
    result = subprocess.run(
        bridge_command(f"--statsd.mapping-config={mapping}", "--check-config"),
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    assert time.monotonic() - started < 10
    assert "Traceback" not in stderr
    assert f"{mapping}" in stderr and "level=ERROR" in stderr, stderr


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--statsd.read-buffer=99999999999999"], "--statsd.read-buffer: must be between 0 and 2147483647"),
        (["--statsd.read-buffer=-1"], "--statsd.read-buffer: must be between 0"),
        (["--statsd.cache-size=-1"], "--statsd.cache-size: must be at least 0"),
        (["--airglow.memory-limit=lots"], "--airglow.memory-limit: not a byte quantity"),
        (["--airglow.tcp-idle-timeout=0s"], "--airglow.tcp-idle-timeout: must be more than 0"),
        (["--statsd.listen-tcp=127.0.0.1:99999"], "--statsd.listen-tcp: invalid address"),
    ],
)
def test_invalid_flag_values_exit_2_with_a_message(flags, message) -> None:
    result = subprocess.run(bridge_command(*flags), cwd=ROOT, capture_output=True, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr.decode()
    assert "Traceback" not in result.stderr.decode()


def test_a_missing_unixgram_directory_is_a_message(tmp_path) -> None:
    path = tmp_path / "missing" / "statsd.sock"
    result = subprocess.run(
        bridge_command(
            f"--web.listen-address=127.0.0.1:{free_port()}",
            "--statsd.listen-udp=",
            "--statsd.listen-tcp=",
            f"--statsd.listen-unixgram={path}",
        ),
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    stderr = result.stderr.decode()
    assert result.returncode == 3 and "Traceback" not in stderr
    assert f"cannot listen on {path} (--statsd.listen-unixgram): No such file or directory" in stderr


def test_idle_connections_and_slowloris_cost_no_threads(bridge_factory) -> None:
    bridge = bridge_factory("--airglow.deployment=test", "--airglow.tcp-max-connections=4096")
    pid = bridge.process.pid
    baseline = threads(pid)
    idle = []
    try:
        for _ in range(5_000):
            idle.append(socket.create_connection(("127.0.0.1", bridge.statsd_port)))
        slow = []
        for _ in range(200):  # slowloris: a request head that never ends
            sock = socket.create_connection(("127.0.0.1", bridge.http_port))
            sock.sendall(b"GET /metrics HTTP/1.1\r\nX-a: ")
            slow.append(sock)
        idle.extend(slow)
        wait_until(  # every connection accepted or refused (the accept loop drains its backlog in turns)
            lambda: (
                (
                    bridge.value("statsd_exporter_tcp_connections_total"),
                    bridge.value("airglow_bridge_connections_refused_total", listener="tcp"),
                )
                == (4096, 5_000 - 4096)
            ),
            timeout=60,
            what="4096 statsd connections open and 904 refused",
        )
        assert threads(pid) <= baseline + 4, (baseline, threads(pid))
        # Ingestion goes on: over an open (idle until now) connection, and over UDP.
        idle[0].sendall(b"airflow.ti.finish:1|c|#dag_id:d,task_id:t,state:success\n")
        bridge.send_udp(b"airflow.ti.finish:1|c|#dag_id:d,task_id:t,state:success")
        bridge.wait_for(
            "airflow_ti_finish_total", 2, dag_id="d", task_id="t", state="success", deployment="test"
        )
        for _ in range(5):
            elapsed, status, _ = timed_get(bridge.url + "/metrics")
            assert status == 200 and elapsed < 1.0, elapsed
        # The slow heads are cut at the 10 s head deadline and counted.
        wait_http_timeouts(bridge, 200, timeout=60)
    finally:
        for sock in idle:
            sock.close()


def test_http_connection_limit_refuses_and_counts(bridge_factory) -> None:
    bridge = bridge_factory("--airglow.web-max-connections=5")
    held = [socket.create_connection(("127.0.0.1", bridge.http_port)) for _ in range(5)]
    try:
        wait_until(lambda: _refused_once(bridge.http_port), timeout=10, what="a sixth connection refused")
    finally:
        for sock in held:
            sock.close()
    wait_until(
        lambda: bridge.value("airglow_bridge_connections_refused_total", listener="http") >= 1,
        what="refusal counted",
    )


def _refused_once(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5)
        try:
            return sock.recv(100) == b""
        except ConnectionResetError:
            return True


def request(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(raw)
        sock.settimeout(10)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
        return out


def test_http_bodies_and_content_coding(bridge_factory) -> None:
    bridge = bridge_factory()
    # A GET with a body: the body is read and skipped, not taken for a second request.
    body = b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"
    reply = request(
        bridge.http_port,
        b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        + b"GET /-/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    assert reply.count(b"HTTP/1.1 200 OK") == 2 and b"404" not in reply
    # Chunked request bodies too.
    reply = request(
        bridge.http_port,
        b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n",
    )
    assert reply.startswith(b"HTTP/1.1 200 OK")
    for accept, gzip in (
        ("gzip;q=0", False),
        ("gzip", True),
        ("identity, gzip;q=0.5", True),
        ("*;q=0", False),
    ):
        _, _, headers = http_get(bridge.url + "/metrics", {"Accept-Encoding": accept})
        assert (headers.get("Content-Encoding") == "gzip") is gzip, accept
    reply = request(bridge.http_port, b"GET /metrics HTTP/1.0\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200 OK") and b"statsd_exporter_lines_total" in reply
    assert request(bridge.http_port, b"BREW /pot HTTP/1.1\r\nConnection: close\r\n\r\n").startswith(
        b"HTTP/1.1 405"
    )
    assert request(bridge.http_port, b"nonsense\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert "Traceback" not in bridge.stop()


def test_client_resets_are_logged_in_the_bridge_format(bridge_factory) -> None:
    bridge = bridge_factory()
    for _ in range(10):
        sock = socket.create_connection(("127.0.0.1", bridge.http_port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.close()  # RST
    assert http_get(bridge.url + "/-/healthy")[0] == 200
    log = bridge.stop()
    assert "Traceback" not in log
    assert all(line.startswith("time=") for line in log.splitlines() if line.strip()), log


def test_udp_flood_losses_add_up(bridge_factory) -> None:
    """Every datagram sent is counted as received or as dropped by the kernel, and every one received is
    processed: there is no queue between the socket and the pipeline to lose datagrams in."""
    bridge = bridge_factory("--statsd.read-buffer=16384", "--statsd.udp-packet-queue-size=100", tcp=False)
    sent = 200_000
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for i in range(sent):
            sock.sendto(b"flood.x:1|c|#i:%d" % (i % 50), ("127.0.0.1", bridge.statsd_port))

    def settled():
        samples = bridge.samples()
        received = samples[("statsd_exporter_udp_packets_total", ())]
        kernel = samples.get(("airglow_bridge_udp_kernel_drops_total", ()), 0)
        queue = samples[("statsd_exporter_udp_packet_drops_total", ())]
        lines = samples[("statsd_exporter_lines_total", ())]
        return (received, kernel, queue, lines) if received + kernel == sent and lines == received else None

    _, kernel, queue, lines = wait_until(settled, timeout=120, interval=1, what="losses add up")
    print(f"sent {sent}: kernel drops {kernel:.0f}, processed {lines:.0f}")
    assert kernel > 0, "the flood was not heavy enough to drop anything"
    assert queue == 0
    # The preset reads "flood." as a deployment prefix: every processed line is in airflow_x{deployment="flood"}.
    assert sum(v for (name, _), v in bridge.samples().items() if name == "airflow_x") == lines
