"""``airglow-dashboards preview``: each dashboard drawn as a PNG from the data in a Prometheus.

Runs the same queries a Grafana would (``queries``), draws them on the dashboard's grid (``drawing``) and
photographs the page with headless Chromium.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from airglow.bridge.commandline import ExitCode
from airglow.dashboards.drawing import DrawnPanel, legend, page
from airglow.dashboards.queries import rows
from airglow.dashboards.series import Series
from airglow.dashboards.tables import build_table
from airglow.dashboards.variables import ALL, DEPLOYMENTS, LabelSource, substitute

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
POINTS = 120


class PreviewError(Exception):
    """Prometheus cannot be queried, or no browser is available to take the picture; ``code`` is the exit
    code the command reports it with."""

    def __init__(self, message: str, code: ExitCode = ExitCode.UNAVAILABLE) -> None:
        super().__init__(message)
        self.code = code


class Prometheus:
    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def get(self, path: str, params: Mapping[str, str]) -> Any:
        query = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=self.timeout) as response:
                body = json.load(response)
        except urllib.error.HTTPError as error:  # Prometheus says why in the body (a bad query: 400)
            raise PreviewError(f"{self.url}{path}: {error.code} {refusal(error)}") from None
        except (OSError, ValueError) as error:
            raise PreviewError(f"{self.url}{path}: {error}") from error
        if body.get("status") != "success":
            raise PreviewError(f"{self.url}{path}: {body.get('error', body)}")
        return body["data"]

    def label_values(self, label: str, match: str) -> list[str]:
        return sorted(self.get(f"/api/v1/label/{label}/values", {"match[]": match}))

    def query(self, expr: str, at: float) -> list[Series]:
        """An instant query: each series with its one point."""
        data = self.get("/api/v1/query", {"query": expr, "time": f"{at:.3f}"})
        return [
            Series(item["metric"], [(float(item["value"][0]), float(item["value"][1]))])
            for item in data["result"]
        ]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        data = self.get(
            "/api/v1/query_range",
            {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:.3f}"},
        )
        return [
            Series(item["metric"], [(float(t), float(v)) for t, v in item["values"]])
            for item in data["result"]
        ]


def refusal(error: urllib.error.HTTPError) -> str:
    """What Prometheus gave as the reason of an error answer, or the HTTP reason."""
    try:
        return str(json.load(error).get("error") or error.reason)
    except (OSError, ValueError, AttributeError):
        return str(error.reason)


def rate_interval(window: float) -> str:
    """Grafana's ``$__rate_interval`` for this window: four scrape intervals at least (15 s assumed)."""
    return f"{max(60, int(window / POINTS) * 4)}s"


def draw_dashboard(
    model: dict[str, Any],
    prometheus: Prometheus,
    selection: Mapping[str, Sequence[str]],
    window: float,
    now: float,
) -> tuple[str, int, int]:
    span = (now - window, now, max(window / POINTS, 1.0))
    interval = rate_interval(window)
    row_headers: list[tuple[str, int]] = []
    drawn: list[DrawnPanel] = []
    for row, panels in rows(model):
        row_headers.append((row.get("title", ""), row["gridPos"]["y"]))
        for panel in panels:
            try:
                drawn.append(draw_panel(panel, prometheus, selection, interval, span))
            except PreviewError as error:
                raise PreviewError(
                    f"{model['title']} / {panel.get('title', '')}: {error}", error.code
                ) from None
    return page(model["title"], row_headers, drawn)


def draw_panel(
    panel: dict[str, Any],
    prometheus: Prometheus,
    selection: Mapping[str, Sequence[str]],
    interval: str,
    span: tuple[float, float, float],
) -> DrawnPanel:
    grid = panel["gridPos"]
    defaults = panel.get("fieldConfig", {}).get("defaults", {})
    exprs = [substitute(target["expr"], selection, interval) for target in panel.get("targets", [])]
    drawn = DrawnPanel(
        panel["type"],
        panel.get("title", ""),
        grid["x"],
        grid["y"],
        grid["w"],
        grid["h"],
        defaults.get("unit", "short"),
        [],
        defaults.get("thresholds", {}).get("steps", []),
    )
    if panel["type"] == "table":
        return replace(drawn, table=build_table(panel, [prometheus.query(expr, span[1]) for expr in exprs]))
    series = [
        (legend(target.get("legendFormat", ""), found.labels), found)
        for target, expr in zip(panel.get("targets", []), exprs, strict=True)
        for found in prometheus.query_range(expr, *span)
    ]
    return replace(drawn, series=series)


def chromium() -> str:
    for name in CHROMIUM_NAMES:
        if path := shutil.which(name):
            return path
    raise PreviewError(
        "no headless browser found: install chromium (apt-get install -y chromium)", ExitCode.USAGE
    )


def screenshot(document: str, width: int, height: int, png: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="airglow-preview-") as scratch:
        html_path = Path(scratch) / "dashboard.html"
        html_path.write_text(document)
        command = [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={scratch}/profile",
            f"--window-size={width},{height}",
            f"--screenshot={png}",
            html_path.as_uri(),
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0 or not png.exists():
        raise PreviewError(f"chromium failed ({result.returncode}): {result.stderr.strip()[-500:]}")


def selection_for(
    prometheus: Prometheus, model: Mapping[str, Any], deployment: str | None = None
) -> dict[str, list[str]]:
    """The variables as Grafana fills them when the dashboard opens: the deployment asked for, else each
    variable's default (All, or its first value), in order (a variable's query may use those before it)."""
    selection: dict[str, list[str]] = {}
    for variable in model["templating"]["list"]:
        if variable["type"] != "query":
            continue
        name = variable["name"]
        if name == "deployment" and deployment:
            selection[name] = [deployment]
        elif ALL in variable.get("current", {}).get("value", []):
            selection[name] = [ALL]
        else:
            source = LabelSource.parse(variable["query"])
            selection[name] = prometheus.label_values(
                source.label, substitute(source.selector, selection, "")
            )[:1]
    return selection


def preview(
    models: Mapping[str, dict[str, Any]],
    prometheus_url: str,
    out: Path,
    deployment: str | None = None,
    window: float = 1800.0,
) -> list[Path]:
    prometheus = Prometheus(prometheus_url)
    if not prometheus.label_values(DEPLOYMENTS.label, DEPLOYMENTS.selector):
        raise PreviewError(
            f"{prometheus_url} has no airflow_scheduler_heartbeat_total: no deployment to show",
            ExitCode.NOT_FOUND,
        )
    out.mkdir(parents=True, exist_ok=True)
    written = []
    now = time.time()
    for number, (name, model) in enumerate(models.items(), 1):
        began = time.monotonic()
        print(
            f"[{number}/{len(models)}] {model['title']}: querying {prometheus.url}",
            file=sys.stderr,
            flush=True,
        )
        selection = selection_for(prometheus, model, deployment)
        document, width, height = draw_dashboard(model, prometheus, selection, window, now)
        png = out / f"{name}.png"
        screenshot(document, width, height, png)
        print(
            f"[{number}/{len(models)}] {png} ({time.monotonic() - began:.1f} s)", file=sys.stderr, flush=True
        )
        written.append(png)
    return written
