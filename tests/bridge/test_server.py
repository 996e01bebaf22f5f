"""The bridge as users run it: flags, listeners, readiness, lifecycle, reload, relay, check-config."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time

import pytest
from support.bridge_process import bridge_command
from support.common import ROOT, free_port, http_get, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.server]


def test_health_ready_and_landing_page(bridge_factory) -> None:
    bridge = bridge_factory()
    assert http_get(bridge.url + "/-/healthy")[:2] == (200, b"Statsd Exporter is Healthy.\n")
    assert http_get(bridge.url + "/-/ready")[:2] == (200, b"Statsd Exporter is Ready.\n")
    assert b"/metrics" in http_get(bridge.url + "/")[1]
    assert http_get(bridge.url + "/nope")[0] == 404


def test_lifecycle_endpoints_are_off_by_default(bridge_factory) -> None:
    bridge = bridge_factory()
    assert http_get(bridge.url + "/-/quit", method="POST")[0] == 403
    assert http_get(bridge.url + "/-/reload", method="POST")[0] == 403
    assert bridge.process.poll() is None


def test_lifecycle_quit_only_by_post_or_put(bridge_factory) -> None:
    bridge = bridge_factory("--web.enable-lifecycle")
    assert http_get(bridge.url + "/-/quit")[0] == 405
    assert http_get(bridge.url + "/-/quit", method="PUT")[0] == 200
    assert bridge.process.wait(timeout=10) == 0


def test_udp_and_tcp_lines_with_self_metrics(bridge_factory) -> None:
    bridge = bridge_factory(
        "--statsd.mapping-config=" + str(ROOT / "tests/data/airflow_chart_statsd_mappings.yml")
    )
    bridge.send_udp(b"airflow.pool.open_slots.default:3|g\nbad line\n")
    bridge.send_tcp(b"airflow.pool.used_slots.default:2|g\r\nairflow.operator_successes_Bash:1|c\n")
    bridge.wait_for("airflow_pool_open_slots", 3, pool="default")
    bridge.wait_for("airflow_pool_used_slots", 2, pool="default")
    bridge.wait_for("airflow_operator_successes", 1, operator="Bash")
    got = bridge.samples()
    assert got[("statsd_exporter_udp_packets_total", ())] == 1
    assert got[("statsd_exporter_tcp_connections_total", ())] == 1
    assert got[("statsd_exporter_lines_total", ())] == 5  # UDP: 3 lines incl. the empty tail; TCP: 2
    assert got[("statsd_exporter_sample_errors_total", (("reason", "malformed_line"),))] == 1
    assert got[("statsd_exporter_loaded_mappings", ())] == 21
    assert got[("statsd_metric_mapper_cache_gets_total", ())] == 3  # one per mapped event
    bridge.send_udp(b"airflow.pool.open_slots.default:4|g")
    bridge.wait_for("airflow_pool_open_slots", 4, pool="default")
    assert bridge.value("statsd_metric_mapper_cache_hits_total") == 1
    assert bridge.value("statsd_metric_mapper_cache_gets_total") == 4


def test_one_line_datagrams_from_many_senders_count_exactly_in_batches(bridge_factory) -> None:
    """Airflow's shape: one line per datagram, many processes at once, every event under two names back to back.
    The socket is drained in batches and each sender's lines are applied together in their order, so every
    pair meets its twin and every event counts once."""
    bridge = bridge_factory("--airglow.deployment=prod", tcp=False)
    senders = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(20)]
    events = 500
    try:
        for number in range(events):
            for index, sock in enumerate(senders):
                dag, task = f"dag_{index}", f"task_{number % 7}"
                for line in (
                    f"airflow.ti.finish.{dag}.{task}.success:1|c",
                    f"airflow.ti.finish:1|c|#dag_id:{dag},task_id:{task},state:success",
                ):
                    sock.sendto(line.encode(), ("127.0.0.1", bridge.statsd_port))
            time.sleep(0.001 if number % 50 else 0.05)  # paced: no loss to the kernel's buffer
    finally:
        for sock in senders:
            sock.close()
    sent = events * len(senders) * 2

    def settled():
        samples = bridge.samples()
        return samples if samples.get(("statsd_exporter_lines_total", ()), 0) == sent else None

    samples = wait_until(settled, timeout=120, interval=0.5, what="every datagram applied")
    assert samples.get(("airglow_bridge_udp_kernel_drops_total", ()), 0) == 0
    assert samples[("statsd_exporter_udp_packets_total", ())] == sent
    finishes = {
        labels: value for (name, labels), value in samples.items() if name == "airflow_ti_finish_total"
    }
    assert sum(finishes.values()) == events * len(senders)
    assert len(finishes) == len(senders) * 7
    batches = samples[("statsd_exporter_event_queue_flushed_total", ())]
    decisions = {
        dict(labels)["decision"]: value
        for (name, labels), value in samples.items()
        if name == "airglow_bridge_twin_events_total"
    }
    assert decisions["counted_first"] == decisions["twin_dropped"] == events * len(senders)
    # Datagrams gather before a drain: a hand-off carries many lines, not one (on a loaded machine, more).
    assert batches * 4 <= sent, f"{sent} datagrams applied in {batches:.0f} calls"


def test_udp_receive_buffer_is_sized_by_default(bridge_factory) -> None:
    """8 MiB asked by default; where the kernel grants less (net.core.rmem_max without CAP_NET_ADMIN), the
    log says so and names the sysctl. The granted size is a self-metric."""
    bridge = bridge_factory(tcp=False)
    granted = bridge.value("airglow_bridge_udp_receive_buffer_bytes")
    if granted < 8 << 20:
        assert "net.core.rmem_max" in bridge.stop()
    else:
        assert granted == 8 << 20
    small = bridge_factory("--statsd.read-buffer=65536", tcp=False)
    assert small.value("airglow_bridge_udp_receive_buffer_bytes") == 65536
    system = bridge_factory("--statsd.read-buffer=0", tcp=False)
    with open(
        "/proc/sys/net/core/rmem_default"
    ) as file:  # the kernel's own size, half of it counted as above
        assert system.value("airglow_bridge_udp_receive_buffer_bytes") == int(file.read()) // 2


def test_tcp_line_too_long_is_counted_and_closes_the_connection(bridge_factory) -> None:
    bridge = bridge_factory()
    with socket.create_connection(("127.0.0.1", bridge.statsd_port)) as sock:
        sock.sendall(b"ok:1|c\n" + b"x" * 5000 + b":1|c\nafter:1|c\n")
        sock.settimeout(10)
        assert sock.recv(10) == b""  # closed by the bridge
    bridge.wait_for("statsd_exporter_tcp_too_long_lines_total", 1)
    unknown = {"deployment": "unknown"}  # the Airflow preset's placeholder for samples that name none
    assert bridge.value("ok", **unknown) == 1 and bridge.value("after", **unknown) is None


def test_unixgram_listener_with_socket_mode(bridge_factory, tmp_path) -> None:
    path = tmp_path / "statsd.sock"
    bridge = bridge_factory(
        f"--statsd.listen-unixgram={path}", "--statsd.unixsocket-mode=660", udp=False, tcp=False
    )
    assert oct(os.stat(path).st_mode & 0o777) == "0o660"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"unix:4|c", str(path))
    bridge.wait_for("unix", 4, deployment="unknown")
    assert bridge.value("statsd_exporter_unixgram_packets_total") == 1
    bridge.stop()
    assert not path.exists()


def test_empty_listen_flag_disables_the_listener(bridge_factory) -> None:
    bridge = bridge_factory(udp=True, tcp=False)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", bridge.statsd_port), timeout=2).close()


def _write(path, text: str) -> None:
    path.write_text(text)


def test_reload_by_lifecycle_and_sighup_keeps_old_mapping_on_error(bridge_factory, tmp_path) -> None:
    mapping = tmp_path / "mapping.yml"
    _write(mapping, "mappings:\n- match: a.*\n  name: first\n")
    bridge = bridge_factory(f"--statsd.mapping-config={mapping}", "--web.enable-lifecycle")
    bridge.send_udp(b"a.x:1|c")
    bridge.wait_for("first", 1)

    _write(mapping, "mappings:\n- match: a.*\n  name: second\n")
    assert http_get(bridge.url + "/-/reload", method="POST")[0] == 200
    bridge.send_udp(b"a.x:1|c")
    bridge.wait_for("second", 1)

    _write(mapping, "mappings:\n- match: a.*\n  name: third\n  labels:\n    bad-label: x\n")
    status, body, _ = http_get(bridge.url + "/-/reload", method="POST")
    assert status == 500 and b"old mapping kept" in body
    bridge.process.send_signal(signal.SIGHUP)
    bridge.wait_for("statsd_exporter_config_reloads_total", 2, outcome="failure")
    bridge.send_udp(b"a.x:1|c")
    bridge.wait_for("second", 2)
    assert bridge.value("statsd_exporter_config_reloads_total", outcome="success") == 1
    log = bridge.stop()
    assert "mapping.yml:5: invalid label key: bad-label" in log
    assert "Traceback" not in log


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            "mappings:\n- match: a.*\n  name: x\n  labels:\n    1x: y\n",
            "mapping.yml:5: invalid label key: 1x",
        ),
        ("mappings:\n- match: '(?<=a)'\n  match_type: regex\n  name: x\n", "mapping.yml:2: invalid regex"),
        ("mappings:\n  - match: a.b\n    nmae: x\n", "mapping.yml:3: field nmae not found in mapping"),
    ],
)
@pytest.mark.parametrize("mode", ["check-config", "startup"])
def test_invalid_mapping_exits_non_zero_with_file_line_reason(
    tmp_path, body: str, reason: str, mode: str
) -> None:
    mapping = tmp_path / "mapping.yml"
    mapping.write_text(body)
    args = [
        f"--statsd.mapping-config={mapping}",
        f"--web.listen-address=127.0.0.1:{free_port()}",
        f"--statsd.listen-udp=127.0.0.1:{free_port()}",
        "--statsd.listen-tcp=",
    ]
    if mode == "check-config":
        args.append("--check-config")
    result = subprocess.run(bridge_command(*args), cwd=ROOT, capture_output=True, timeout=30)
    stderr = result.stderr.decode()
    assert result.returncode == 2
    assert reason in stderr
    assert "Traceback" not in stderr


def test_check_config_accepts_the_builtin_preset_and_a_valid_file(tmp_path) -> None:
    assert subprocess.run(bridge_command("--check-config"), cwd=ROOT, capture_output=True).returncode == 0
    mapping = tmp_path / "ok.yml"
    mapping.write_text("mappings:\n- match: a.*\n  name: x\n")
    result = subprocess.run(
        bridge_command("--check-config", f"--statsd.mapping-config={mapping}"), cwd=ROOT, capture_output=True
    )
    assert result.returncode == 0 and b"Configuration check successful" in result.stderr


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("--statsd.listen-udp=nonsense", "invalid address"),
        ("--statsd.unixsocket-mode=9z", "octal"),
        ("--web.telemetry-path=metrics", "must start with /"),
    ],
)
def test_bad_flags_are_rejected_clearly(flag: str, message: str) -> None:
    result = subprocess.run(bridge_command(flag), cwd=ROOT, capture_output=True, timeout=30)
    assert result.returncode == 2 and message in result.stderr.decode()


@pytest.mark.parametrize("udp_bound_first", [False, True], ids=["tcp only", "udp bound first"])
def test_a_busy_statsd_port_stops_the_bridge_cleanly(udp_bound_first: bool) -> None:
    """Another process holds the statsd port: the bridge says which flag and exits 3, with no traceback,
    also when a listener bound before it has not started yet."""
    http_port, busy = free_port(), socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        result = subprocess.run(
            bridge_command(
                f"--web.listen-address=127.0.0.1:{http_port}",
                "--statsd.listen-udp=" + (f"127.0.0.1:{free_port()}" if udp_bound_first else ""),
                f"--statsd.listen-tcp=127.0.0.1:{port}",
            ),
            cwd=ROOT,
            capture_output=True,
            timeout=30,
        )
    finally:
        busy.close()
    assert result.returncode == 3, result.stderr.decode()
    assert b"Traceback" not in result.stderr
    assert (
        f"cannot listen on 127.0.0.1:{port} (--statsd.listen-tcp): Address already in use".encode()
        in result.stderr
    )


def test_relay_forwards_raw_lines(bridge_factory) -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    port = receiver.getsockname()[1]
    bridge = bridge_factory(f"--statsd.relay.address=127.0.0.1:{port}", "--statsd.relay.packet-length=20")
    bridge.send_udp(b"relay.a:1|c\nrelay.b:22|c\n" + b"x" * 30 + b":1|c")
    packets = [receiver.recv(100), receiver.recv(100)]
    receiver.close()
    assert packets == [b"relay.a:1|c\n", b"relay.b:22|c\n"]
    bridge.wait_for("statsd_exporter_relay_long_lines_total", 1, target=f"127.0.0.1:{port}")
    assert bridge.value("statsd_exporter_relay_lines_relayed_total", target=f"127.0.0.1:{port}") == 2


def test_telemetry_path_and_gzip(bridge_factory) -> None:
    import gzip

    bridge = bridge_factory("--web.telemetry-path=/stats")
    bridge.send_udp(b"zipped:1|c")
    sample = b'zipped{deployment="unknown"} 1'
    wait_until(lambda: sample in http_get(bridge.url + "/stats")[1], what="metric on /stats")
    _, body, headers = http_get(bridge.url + "/stats", {"Accept-Encoding": "gzip"})
    assert headers.get("Content-Encoding") == "gzip" and sample in gzip.decompress(body)
    assert http_get(bridge.url + "/metrics")[0] == 404


def test_stops_on_sigterm_promptly(bridge_factory) -> None:
    bridge = bridge_factory()
    started = time.monotonic()
    bridge.process.send_signal(signal.SIGTERM)
    assert bridge.process.wait(timeout=10) == 0
    assert time.monotonic() - started < 5


def test_self_metrics_count_exactly_under_concurrent_senders(bridge_factory, tmp_path) -> None:
    """Threads hammer the UDP, TCP and Unixgram listeners while every line is relayed: each part counts
    in its own counters, and every count comes out exact."""
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(0.2)
    target = f"127.0.0.1:{receiver.getsockname()[1]}"
    relayed: list[bytes] = []
    receiving = threading.Event()

    def receive() -> None:
        while not receiving.is_set():
            try:
                relayed.append(receiver.recv(65535))
            except TimeoutError:
                continue

    collector = threading.Thread(target=receive)
    collector.start()
    unixgram = str(tmp_path / "statsd.sock")
    bridge = bridge_factory(
        f"--statsd.relay.address={target}",
        "--statsd.relay.packet-length=200",
        f"--statsd.listen-unixgram={unixgram}",
    )
    threads, datagrams, connections, lines_per_connection = 6, 300, 20, 10
    long_line = b"x" * 250 + b":1|c"  # longer than a relay packet: counted by the relay, not relayed

    def hammer(number: int) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            for index in range(datagrams):
                udp.sendto(
                    long_line if index % 50 == 0 else b"hammer_udp:1|c", ("127.0.0.1", bridge.statsd_port)
                )
                if index % 25 == 0:
                    time.sleep(0.002)  # paced: the kernel must not drop what the counts are checked against
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as unix:
            for _ in range(datagrams):
                unix.sendto(b"hammer_unix:1|c", unixgram)
        for _ in range(connections):
            bridge.send_tcp(b"hammer_tcp:1|c\n" * lines_per_connection)

    senders = [threading.Thread(target=hammer, args=(number,)) for number in range(threads)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    long_lines = threads * (datagrams // 50)
    lines = threads * (2 * datagrams + connections * lines_per_connection)
    try:
        bridge.wait_for("statsd_exporter_lines_total", lines, timeout=60)
        # The relay flushes at least every second: wait until everything it counted has arrived.
        wait_until(
            lambda: sum(packet.count(b"\n") for packet in relayed) == lines - long_lines,
            30,
            what="every relayed line received",
        )
    finally:
        receiving.set()
        collector.join()
        receiver.close()
    samples = bridge.samples()
    assert samples[("statsd_exporter_udp_packets_total", ())] == threads * datagrams
    assert samples[("statsd_exporter_unixgram_packets_total", ())] == threads * datagrams
    assert samples[("statsd_exporter_tcp_connections_total", ())] == threads * connections
    assert samples.get(("airglow_bridge_udp_kernel_drops_total", ()), 0) == 0
    by_target = (("target", target),)
    assert samples[("statsd_exporter_relay_lines_relayed_total", by_target)] == lines - long_lines
    assert samples[("statsd_exporter_relay_long_lines_total", by_target)] == long_lines
    assert samples[("statsd_exporter_relay_packets_total", by_target)] == len(relayed)
    deployment = (("deployment", "unknown"),)
    assert samples[("hammer_udp", deployment)] == threads * datagrams - long_lines
    assert samples[("hammer_unix", deployment)] == threads * datagrams
    assert samples[("hammer_tcp", deployment)] == threads * connections * lines_per_connection
