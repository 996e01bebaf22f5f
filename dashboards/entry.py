"""The dashboards part's console scripts. Everything behind them builds on grafanalib (the `dashboards`
extra), so they import it only once they run: a missing extra is a message that names the install."""

from __future__ import annotations

from airglow.bridge.commandline import ExitCode, MissingExtra, fail, import_extra


def dashboards() -> int:
    return _run("airglow.dashboards.cli", "airglow-dashboards")


def demo() -> int:
    return _run("airglow.dashboards.demo", "airglow-demo")


def _run(module: str, prog: str) -> int:
    try:
        main = import_extra(module, "dashboards").main
    except MissingExtra as error:
        return fail(prog, str(error), ExitCode.USAGE)
    return main()
