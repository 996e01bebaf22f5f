"""``airglow-dashboards``: write the dashboards, provisioning, rules and ConfigMaps; or draw previews."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from airglow.dashboards.collection import dashboards
from airglow.dashboards.outputs import OutputOptions, write
from airglow.dashboards.preview import PreviewError, preview


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="airglow-dashboards", description=__doc__)
    commands = p.add_subparsers(dest="command", required=True)
    generate = commands.add_parser(
        "generate", help="write dashboard JSON, provisioning, rules and ConfigMaps"
    )
    generate.add_argument("--out", type=Path, required=True, help="output directory")
    generate.add_argument(
        "--namespace", default="monitoring", help="namespace of the ConfigMaps and PrometheusRule"
    )
    generate.add_argument("--folder", default="Airflow", help="Grafana folder")
    generate.add_argument(
        "--dashboards-path",
        default="/var/lib/grafana/dashboards/airglow",
        help="where Grafana reads the JSON (file provisioning)",
    )
    draw = commands.add_parser("preview", help="draw each dashboard to a PNG from the data in a Prometheus")
    draw.add_argument("--prometheus", required=True, help="Prometheus base URL, e.g. http://127.0.0.1:9090")
    draw.add_argument(
        "--out", type=Path, default=Path("preview"), help="directory for the PNGs (default preview/)"
    )
    draw.add_argument("--deployment", help="one deployment instead of All")
    draw.add_argument(
        "--window", type=float, default=1800.0, help="seconds of history to draw (default 1800)"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "generate":
        options = OutputOptions(args.namespace, args.folder, args.dashboards_path)
        for path in write(args.out, options):
            print(path)
        return 0
    try:
        pictures = preview(dashboards(), args.prometheus, args.out, args.deployment, args.window)
    except PreviewError as error:
        print(f"airglow-dashboards preview: {error}", file=sys.stderr)
        return 1
    for path in pictures:
        print(path)
    return 0
