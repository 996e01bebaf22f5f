"""manifests/: every kustomization builds with ``kubectl kustomize``; every object validates strictly
(kubernetes-validate for Kubernetes kinds, the Prometheus Operator's own CRD schemas for its kinds); the
bridge's arguments pass ``airglow-bridge --check-config`` with the mapping from its ConfigMap and its probe
paths answer on a running bridge; the generated files are current; the security posture holds."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from support import k8s_api_stub as k8s
from support.bridge_process import BridgeProcess, bridge_command, start_bridge
from support.common import ROOT, free_port, http_get, venv_with, wait_until
from support.helm_values import Release, airflow_environment, merged
from support.manifests import (
    MANIFESTS,
    OVERLAYS,
    BridgeWorkload,
    bridge_workloads,
    build,
    kustomizations,
    relocate,
)

from airglow.bridge import __version__

# The oldest Kubernetes still supported upstream when this was written, and the newest the validator knows.
KUBERNETES_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
CRDS = ROOT / "tests" / "data" / "crds"  # Prometheus Operator 0.93.0, example/prometheus-operator-crd


def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema of every served version of the CRDs kept as test data."""
    schemas = {}
    for path in CRDS.glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        for version in crd["spec"]["versions"]:
            api_version = f"{crd['spec']['group']}/{version['name']}"
            schemas[(api_version, crd["spec"]["names"]["kind"])] = version["schema"]["openAPIV3Schema"]
    return schemas


CRD_SCHEMAS = crd_schemas()


def unknown_fields(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Fields the API server would prune: a structural CRD schema drops what it does not declare."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    if isinstance(value, dict) and "properties" in schema:
        found = []
        for key, item in value.items():
            if key in schema["properties"]:
                found += unknown_fields(item, schema["properties"][key], f"{path}.{key}")
            elif not schema.get("additionalProperties"):
                found.append(f"{path}.{key}")
        return found
    if isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        return [
            f
            for key, item in value.items()
            for f in unknown_fields(item, schema["additionalProperties"], f"{path}.{key}")
        ]
    if isinstance(value, list) and "items" in schema:
        return [
            f for n, item in enumerate(value) for f in unknown_fields(item, schema["items"], f"{path}[{n}]")
        ]
    return []


def validate_custom_resource(obj: dict[str, Any]) -> None:
    schema = CRD_SCHEMAS[(obj["apiVersion"], obj["kind"])]
    jsonschema.Draft7Validator(schema).validate(obj)
    body = {key: value for key, value in obj.items() if key not in ("apiVersion", "kind", "metadata")}
    pruned = unknown_fields(body, schema)
    assert not pruned, f"{obj['kind']} {obj['metadata']['name']}: fields the API server would drop: {pruned}"


def validate(obj: dict[str, Any]) -> None:
    if (obj["apiVersion"], obj["kind"]) in CRD_SCHEMAS:
        validate_custom_resource(obj)
        return
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(obj, version, strict=True)


@pytest.mark.parametrize("directory", kustomizations(), ids=lambda p: str(p.relative_to(MANIFESTS)))
def test_every_kustomization_builds_and_every_object_validates(directory: Path) -> None:
    objects = build(directory)
    assert objects
    for obj in objects:
        validate(obj)


def test_the_validators_reject_what_a_cluster_would_reject() -> None:
    """Control cases: an unknown field, a wrong type and a field the operator would silently drop."""
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {"bogus": 1}}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(service)
    monitor = next(
        obj
        for obj in build(MANIFESTS / "monitoring" / "prometheus-operator")
        if obj["kind"] == "ServiceMonitor"
    )
    validate(monitor)
    wrong_type = copy.deepcopy(monitor)
    wrong_type["spec"]["endpoints"][0]["honorLabels"] = "yes"
    with pytest.raises(jsonschema.ValidationError):
        validate(wrong_type)
    dropped = copy.deepcopy(monitor)
    dropped["spec"]["endpoints"][0]["honorLabel"] = True
    with pytest.raises(AssertionError, match="honorLabel"):
        validate(dropped)


# Components no layout uses, and the test that builds each through an overlay of its own.
OPTIONAL_COMPONENTS = {
    "fluent-bit-data-stream": "test_into_a_data_stream_fluent_bit_creates_and_a_retried_batch_still_reads_once"
}


def test_every_layout_exists_and_every_component_is_built() -> None:
    assert {path.name for path in OVERLAYS} == {"single-deployment", "fleet-per-namespace", "fleet-per-node"}
    overlays = "".join(path.read_text() for path in (MANIFESTS / "overlays").rglob("kustomization.yaml"))
    tests = "".join(path.read_text() for path in (ROOT / "tests" / "manifests").glob("test_*.py"))
    for component in (MANIFESTS / "components").iterdir():
        if component.name in OPTIONAL_COMPONENTS:
            assert f"def {OPTIONAL_COMPONENTS[component.name]}(" in tests
            assert f"'components' / '{component.name}'" in tests
        else:
            assert f"components/{component.name}" in overlays, component.name


def test_generated_files_are_current() -> None:
    result = subprocess.run(
        [sys.executable, str(MANIFESTS / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_a_stale_generated_file_is_named(tmp_path) -> None:
    sys.path.insert(0, str(MANIFESTS))
    try:
        import generate
    finally:
        sys.path.remove(str(MANIFESTS))
    generate.write(tmp_path)
    assert generate.stale(tmp_path) == []
    rule = tmp_path / "monitoring" / "prometheus" / "airglow-rules.yml"
    rule.write_text(rule.read_text().replace("AirflowDagImportErrors", "Renamed"))
    (tmp_path / "base" / "mapping.yml").unlink()
    assert generate.stale(tmp_path) == ["base/mapping.yml", "monitoring/prometheus/airglow-rules.yml"]


def overlay_bridges() -> list[tuple[str, BridgeWorkload]]:
    found = []
    for overlay in OVERLAYS:
        for workload in bridge_workloads(build(overlay)):
            found.append((f"{overlay.name}/{workload.workload['metadata']['namespace']}", workload))
    return found


def test_bridge_objects_have_the_shape_the_issue_asks_for() -> None:
    for name, bridge in overlay_bridges():
        ports = {(p["containerPort"], p["protocol"]) for p in bridge.container["ports"]}
        assert ports == {(9125, "UDP"), (9125, "TCP"), (9102, "TCP")}, name
        assert bridge.container["readinessProbe"]["httpGet"]["path"] == "/-/ready", name
        assert bridge.container["livenessProbe"]["httpGet"]["path"] == "/-/healthy", name
        assert {"requests", "limits"} <= set(bridge.container["resources"]), name
        assert not any("lifecycle" in arg for arg in bridge.args), f"{name}: lifecycle endpoints stay off"


def test_every_bridge_sizes_itself_from_its_container_memory_limit() -> None:
    """The one memory figure (docs/memory.md): the container limit, handed to the bridge by the downward API."""
    for name, bridge in overlay_bridges():
        env = {item["name"]: item for item in bridge.container.get("env", [])}
        source = env["AIRGLOW_MEMORY_LIMIT"]["valueFrom"]["resourceFieldRef"]
        assert source == {"containerName": bridge.container["name"], "resource": "limits.memory"}, name
        assert bridge.container["resources"]["limits"]["memory"] == "512Mi", name
        assert not any(arg.startswith("--airglow.memory-limit") for arg in bridge.args), name


def test_every_layout_admits_statsd_from_airflow_namespaces_and_metrics_from_prometheus_only() -> None:
    for overlay in OVERLAYS:
        objects = build(overlay)
        pods = {
            (
                obj["metadata"].get("namespace"),
                obj["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"],
            )
            for obj in objects
            if obj["kind"] in ("Deployment", "DaemonSet") and obj["metadata"]["name"] == "airglow-bridge"
        }
        policies = [obj for obj in objects if obj["kind"] == "NetworkPolicy"]
        covered = {
            (
                p["metadata"].get("namespace"),
                p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"],
            )
            for p in policies
        }
        assert pods and pods <= covered, overlay.name
        for policy in policies:
            assert policy["spec"]["policyTypes"] == ["Ingress"]
            rules = {
                tuple(sorted((port["port"], port["protocol"]) for port in rule["ports"])): rule["from"]
                for rule in policy["spec"]["ingress"]
            }
            assert set(rules) == {((9125, "TCP"), (9125, "UDP")), ((9102, "TCP"),)}, overlay.name
            assert rules[((9125, "TCP"), (9125, "UDP"))] == [
                {"namespaceSelector": {"matchLabels": {"airglow.io/statsd-sender": "true"}}}
            ]
            assert rules[((9102, "TCP"),)] == [
                {
                    "namespaceSelector": {"matchLabels": {"airglow.io/prometheus": "true"}},
                    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
                }
            ]


def test_service_accounts_and_rbac_exist_only_with_sender_pod_lookup() -> None:
    for overlay in OVERLAYS:
        objects = build(overlay)
        rbac = [
            o
            for o in objects
            if o["kind"] in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
        ]
        for bridge in bridge_workloads(objects):
            lookup = "--airglow.pod-lookup" in bridge.args
            spec = bridge.pod["spec"]
            assert spec["automountServiceAccountToken"] is lookup, overlay.name
            assert ("serviceAccountName" in spec) is lookup, overlay.name
            if lookup:
                (binding,) = [o for o in rbac if o["kind"] == "ClusterRoleBinding"]
                assert binding["subjects"] == [
                    {
                        "kind": "ServiceAccount",
                        "name": spec["serviceAccountName"],
                        "namespace": bridge.workload["metadata"]["namespace"],
                    }
                ]
                (role,) = [o for o in rbac if o["kind"] == "ClusterRole"]
                assert role["rules"] == [
                    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}
                ]
            else:
                assert rbac == [], overlay.name


def containers(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    return [
        (obj["metadata"]["name"], obj["spec"]["template"]["spec"], container)
        for obj in objects
        if obj["kind"] in ("Deployment", "DaemonSet")
        for container in obj["spec"]["template"]["spec"]["containers"]
    ]


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_every_container_is_locked_down(overlay: Path) -> None:
    for name, pod, container in containers(build(overlay)):
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True, name
        assert context["allowPrivilegeEscalation"] is False, name
        assert context["capabilities"] == {"drop": ["ALL"]}, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert "memory" in container["resources"]["limits"], name
        if name == "airglow-fluent-bit":
            continue  # reads the root-owned container logs: root without capabilities, documented in place
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] > 0, name


def test_dashboard_config_maps_fit_kubectl_apply() -> None:
    """kubectl apply keeps the whole object in an annotation limited to 256 KiB."""
    for obj in build(MANIFESTS / "monitoring" / "grafana-dashboards"):
        assert obj["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert len(yaml.safe_dump(obj)) < 256 * 1024, obj["metadata"]["name"]


def test_image_references_match_the_dockerfile_and_the_package() -> None:
    version = __version__
    for name, _, container in containers(build(MANIFESTS / "base")):
        assert container["image"] == f"ghcr.io/airglow/airglow:{version}", name
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"ghcr.io/airglow/airglow:{version}" in dockerfile
    for values in (MANIFESTS / "airflow").glob("values-airflow*.yaml"):
        image = yaml.safe_load(values.read_text())["images"]["airflow"]
        assert image["tag"].endswith(f"-airglow{version}"), values.name


@contextmanager
def pod_api_for(args: list[str], directory: Path) -> Iterator[list[str]]:
    """Sender-pod lookup needs a Kubernetes API: the stub that speaks its list/watch, through a kubeconfig."""
    if "--airglow.pod-lookup" not in args:
        yield []
        return
    server, port = k8s.start(k8s.PodAPI())
    config = directory / "kubeconfig"
    config.write_text(k8s.kubeconfig(port))
    try:
        yield [f"--airglow.kubeconfig={config}"]
    finally:
        k8s.stop(server)


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_bridge_arguments_pass_check_config_and_the_probes_answer(overlay: Path, tmp_path) -> None:
    workloads = bridge_workloads(build(overlay))
    assert workloads
    for n, bridge in enumerate(workloads):
        moved = bridge.write_mounts(tmp_path / str(n))
        assert any(arg.startswith("--statsd.mapping-config=") for arg in relocate(bridge.args, moved))
        with pod_api_for(bridge.args, tmp_path / str(n)) as credentials:  # in a pod: its service account
            checked = subprocess.run(
                bridge_command(*relocate(bridge.args, moved), *credentials, "--check-config"),
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=60,
            )
        assert checked.returncode == 0, checked.stderr
        assert "Configuration check successful" in checked.stderr
        args = relocate(bridge.args_without_addresses(), moved)
        with pod_api_for(args, tmp_path / str(n)) as extra:
            running = start_bridge(*args, *extra)
            try:
                for probe in ("readinessProbe", "livenessProbe"):
                    path = bridge.container[probe]["httpGet"]["path"]
                    url = running.url + path
                    wait_until(lambda url=url: http_get(url)[0] == 200, 20, 0.2, what=path)
                expect_deployment_label(running, args)
            finally:
                running.stop()


def expect_deployment_label(running: BridgeProcess, args: list[str]) -> None:
    """A bridge that serves one deployment labels an untagged heartbeat with it."""
    deployment = next((a.split("=", 1)[1] for a in args if a.startswith("--airglow.deployment=")), None)
    if deployment is None:
        return

    def arrived() -> bool:
        running.send_udp(b"airflow.scheduler_heartbeat:1|c")
        return bool(running.value("airflow_scheduler_heartbeat_total", deployment=deployment))

    wait_until(arrived, 20, 0.2, what=f"heartbeat labelled {deployment}")


def dockerfile_stages() -> dict[str, list[str]]:
    """Stage name -> its instructions (continuation lines joined)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    stages: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        if line.startswith("FROM "):
            current = stages.setdefault(line.split(" AS ")[-1].strip(), [])
        elif line.strip() and not line.startswith("#"):
            current.append(line.strip())
    return stages


def test_the_airflow_image_keeps_airflow_as_the_base_image_has_it() -> None:
    """No Docker engine or GitHub access here to run it: the install line itself pins Airflow to the image's
    version and holds shared dependencies to Airflow's constraints for that version and the image's Python."""
    (install,) = [line for line in dockerfile_stages()["airflow"] if "pip install" in line]
    assert '"apache-airflow==${AIRFLOW_VERSION}"' in install
    constraints = "https://raw.githubusercontent.com/apache/airflow/constraints-${AIRFLOW_VERSION}/constraints-${python_version}.txt"
    assert f'--constraint "{constraints}"' in install
    assert "sys.version_info[:2]" in install


def test_the_bridge_image_runs_as_the_user_the_manifests_expect() -> None:
    bridge = dockerfile_stages()["bridge"]
    (user,) = [line.split()[1] for line in bridge if line.startswith("USER ")]
    for name, pod, _ in containers(build(MANIFESTS / "base")):
        assert user == f"{pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}", name
    assert 'ENTRYPOINT ["airglow-bridge"]' in bridge
    assert list(dockerfile_stages())[-1] == "bridge", "a plain docker build gives the bridge"


@pytest.mark.slow
def test_the_dockerfile_wheel_holds_a_working_bridge(tmp_path) -> None:
    """No Docker engine here: run the image's steps by hand. Copy only what the wheel stage COPYs (and
    .dockerignore lets through), build the wheel, install it with the bridge stage's extras in a fresh venv,
    and run the bridge's configuration check on its built-in preset from there."""
    stages = dockerfile_stages()
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    context = tmp_path / "context"
    for line in stages["wheel"]:
        if line.startswith("COPY "):
            *sources, _ = line.split()[1:]
            for source in sources:
                assert f"!{source}" in ignored, f".dockerignore keeps {source} out of the build context"
                copy_into = context / source
                copy_into.parent.mkdir(parents=True, exist_ok=True)
                subprocess.run(["cp", "-r", str(ROOT / source), str(copy_into)], check=True)
    wheels = tmp_path / "wheels"
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--wheel-dir",
            str(wheels),
            str(context),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("airglow-*.whl")
    (install,) = [line for line in stages["bridge"] if "pip install" in line]
    extras = install.split("[", 1)[1].split("]", 1)[0]
    bin_dir = venv_with(tmp_path / "venv", f"{wheel}[{extras}]", timeout=600)
    kubeconfig = tmp_path / "kubeconfig"  # credentials to load; --check-config makes no request
    kubeconfig.write_text(k8s.kubeconfig(free_port()))
    checked = subprocess.run(
        [
            str(bin_dir / "airglow-bridge"),
            "--check-config",
            "--airglow.pod-lookup",
            f"--airglow.kubeconfig={kubeconfig}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert checked.returncode == 0, checked.stderr
    assert "Configuration check successful" in checked.stderr
    assert "mappings in <built-in preset airflow>" in checked.stderr


def _fleet(out: Path, *members: str) -> subprocess.CompletedProcess:
    """``python manifests/fleet.py``, as a user runs it."""
    return subprocess.run(
        [sys.executable, str(MANIFESTS / "fleet.py"), "--out", str(out), *members],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_fleet_command_lays_out_three_namespaces_that_build_and_validate(tmp_path) -> None:
    out = tmp_path / "fleet"
    result = _fleet(out, "airflow-prod-eu", "airflow-staging", "team-ml=ml-platform")
    assert result.returncode == 0, result.stderr
    objects = build(out)
    for obj in objects:
        validate(obj)
    bridges = {bridge.workload["metadata"]["namespace"]: bridge for bridge in bridge_workloads(objects)}
    assert set(bridges) == {"airflow-prod-eu", "airflow-staging", "team-ml"}
    assert "--airglow.deployment=ml-platform" in bridges["team-ml"].args
    assert "--airglow.deployment=airflow-staging" in bridges["airflow-staging"].args
    services = {
        (o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects if o["kind"] == "Service"
    }
    assert {("airflow-prod-eu", "airglow-bridge"), ("team-ml", "airglow-bridge")} <= services
    monitors = [o for o in objects if o["kind"] == "ServiceMonitor"]
    assert len(monitors) == 1 and monitors[0]["metadata"]["namespace"] == "monitoring"


def test_the_fleet_command_rewrites_the_layout_and_removes_only_its_own_dropped_folders(tmp_path) -> None:
    out = tmp_path / "fleet"
    assert _fleet(out, "a-one", "a-two", "a-three").returncode == 0
    (out / "notes").mkdir()
    (out / "notes" / "kustomization.yaml").write_text("# the user's own\n")
    assert _fleet(out, "a-one", "a-three").returncode == 0
    assert sorted(path.name for path in out.iterdir()) == ["a-one", "a-three", "kustomization.yaml", "notes"]
    assert "a-two" not in (out / "kustomization.yaml").read_text()


@pytest.mark.parametrize(
    ("member", "message"),
    [("Airflow_Prod", "is not a namespace name"), ("team=bad name", "is not a deployment name")],
)
def test_the_fleet_command_rejects_names_kubernetes_or_the_bridge_would_refuse(
    tmp_path, member, message
) -> None:
    result = _fleet(tmp_path / "fleet", member)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "fleet").exists()


def test_the_release_label_prometheus_selects_on_is_a_kustomize_knob(tmp_path) -> None:
    def release_labels(objects: list[dict]) -> dict[str, str]:
        return {
            o["kind"]: o["metadata"]["labels"]["release"]
            for o in objects
            if o["kind"] in ("ServiceMonitor", "PrometheusRule")
        }

    default = build(MANIFESTS / "monitoring" / "prometheus-operator")
    assert release_labels(default) == {
        "ServiceMonitor": "kube-prometheus-stack",
        "PrometheusRule": "kube-prometheus-stack",
    }
    overlay = tmp_path / "mine"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources: [{os.path.relpath(MANIFESTS / 'monitoring' / 'prometheus-operator', overlay)}]\n"
        "labels:\n  - pairs: {release: my-monitoring}\n    includeSelectors: false\n"
    )
    assert release_labels(build(overlay)) == {
        "ServiceMonitor": "my-monitoring",
        "PrometheusRule": "my-monitoring",
    }


def test_one_values_file_serves_every_release_of_the_fleet() -> None:
    values = merged("values-airflow3.yaml", "values-metrics.yaml", "values-logs-s3.yaml")
    settings = {
        name: airflow_environment(values, release=Release(name, f"ns-{name}"))
        for name in ("airflow-prod-eu", "airflow-staging")
    }
    for name, env in settings.items():
        assert env["AIRFLOW__METRICS__STATSD_DATADOG_TAGS"] == f"deployment:{name}"
        assert env["AIRFLOW__AIRGLOW__DEPLOYMENT"] == name
        assert env["AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER"] == f"s3://airflow-logs/{name}"
    # Layering Airglow's values with -f keeps a user's env and extraEnv: only the per-node file sets extraEnv.
    setters = {
        path.name
        for path in (MANIFESTS / "airflow").glob("values-*.yaml")
        if {"env", "extraEnv"} & set(yaml.safe_load(path.read_text()))
    }
    assert setters == {"values-per-node-bridge.yaml"}


def test_the_pod_ends_watcher_reads_pods_of_its_namespace_only_and_its_arguments_parse() -> None:
    from airglow.log_handlers.pod_ends.cli import build_parser

    objects = build(MANIFESTS / "log-shipping" / "pod-ends")
    kinds = {o["kind"] for o in objects}
    assert "ClusterRole" not in kinds and "ClusterRoleBinding" not in kinds
    (role,) = [o for o in objects if o["kind"] == "Role"]
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]
    ((_, pod, container),) = containers(objects)
    assert container["command"] == ["airglow-pod-ends"] and container["image"].startswith(
        "ghcr.io/airglow/airflow:"
    )
    arguments = [arg.replace("$(POD_NAMESPACE)", "airflow") for arg in container["args"]]
    assert build_parser().parse_args(arguments).namespace == "airflow"
    assert pod["serviceAccountName"] == "airglow-pod-ends"
    (config,) = [o for o in objects if o["kind"] == "ConfigMap"]
    assert config["data"]["AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER"].startswith("s3://")
    assert "kubernetes]" in (ROOT / "Dockerfile").read_text().split("AS bridge")[0], (
        "the Airflow image has it"
    )
