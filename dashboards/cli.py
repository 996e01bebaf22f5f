"""``airglow-dashboards``: write the dashboards, provisioning, rules and ConfigMaps; or draw previews."""

from __future__ import annotations

import argparse
from pathlib import Path

from airglow.bridge.commandline import CommandParser, ExitCode, fail
from airglow.dashboards.collection import dashboards
from airglow.dashboards.outputs import OutputOptions, write
from airglow.dashboards.preview import PreviewError, preview
from airglow.dashboards.rules import RUNBOOKS


def parser() -> argparse.ArgumentParser:
    p = CommandParser(prog="airglow-dashboards", description=__doc__)
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
    generate.add_argument(
        "--runbook-url",
        type=http_url,
        help="where docs/runbooks is served, for the alerts' runbook_url, e.g. "
        "https://git.example.com/airglow/blob/v1/docs/runbooks (default: the repository path docs/runbooks)",
    )
    draw = commands.add_parser("preview", help="draw each dashboard to a PNG from the data in a Prometheus")
    draw.add_argument(
        "--prometheus", type=http_url, required=True, help="Prometheus base URL, e.g. http://127.0.0.1:9090"
    )
    draw.add_argument(
        "--out", type=Path, default=Path("preview"), help="directory for the PNGs (default preview/)"
    )
    draw.add_argument("--deployment", help="one deployment instead of All")
    draw.add_argument(
        "--window", type=float, default=1800.0, help="seconds of history to draw (default 1800)"
    )
    return p


def http_url(text: str) -> str:
    if not text.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"expected a URL starting with http:// or https://, got {text!r}")
    return text.rstrip("/")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    prog = f"airglow-dashboards {args.command}"
    try:
        if args.command == "generate":
            options = OutputOptions(
                args.namespace, args.folder, args.dashboards_path, args.runbook_url or RUNBOOKS
            )
            written = write(args.out, options)
        else:
            written = preview(dashboards(), args.prometheus, args.out, args.deployment, args.window)
    except PreviewError as error:
        return fail(prog, str(error), error.code)
    except OSError as error:
        return fail(
            prog, f"cannot write {error.filename or args.out}: {error.strerror or error}", ExitCode.USAGE
        )
    for path in written:
        print(path)
    return ExitCode.OK
