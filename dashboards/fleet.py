"""Fleet overview: every deployment in one table, worst first, a health column per concern, links down.

The columns are the concerns of ``health`` read from their recording rules, so the table costs a few
instant queries of one series per deployment, at 3 deployments as at 100.
"""

from __future__ import annotations

from grafanalib import core

from airglow.dashboards import health, variables
from airglow.dashboards import promql as q
from airglow.dashboards.frame import UIDS, dashboard, drilldown
from airglow.dashboards.panels import Column, Link, Query, Section, Step, stat, table

LINKS = (
    Link("Deployment", drilldown("deployment")),
    Link("Task pods", drilldown("pods")),
    Link("DAGs", drilldown("dag")),
)
# A click on a deployment opens its dashboard on it alone.
DEPLOYMENT_LINK = Link(
    "Open the deployment dashboard",
    f"/d/{UIDS['deployment']}?var-deployment=${{__value.raw}}&${{__url_time_range}}",
)
SCORE = f"{health.SCORE}{{{q.DEPLOYMENT}}}"


def steps(concern: health.Concern) -> tuple[Step, ...]:
    """Green, orange from ``warn``, red from ``trouble`` (the other way round for a ratio that falls)."""
    if concern.low_is_bad:
        return (Step("red"), Step("orange", concern.trouble), Step("green", concern.warn))
    if concern.warn == concern.trouble:
        return (Step("green"), Step("red", concern.trouble))
    return (Step("green"), Step("orange", concern.warn), Step("red", concern.trouble))


def columns() -> tuple[Column, ...]:
    score = Column(
        "Trouble",
        SCORE,
        steps=(Step("green"), Step("orange", 1), Step("red", 2)),
        description="1 per concern in orange, 2 per concern in red: the rows are sorted by it.",
    )
    return (
        score,
        *(
            Column(
                concern.title,
                f"{concern.record}{{{q.DEPLOYMENT}}}",
                unit=concern.unit,
                steps=steps(concern),
                description=concern.description,
            )
            for concern in health.concerns()
        ),
    )


def summary() -> Section:
    return Section(
        "Fleet",
        (
            stat("Deployments", Query(f"count({SCORE})"), width=4, links=LINKS),
            stat(
                "In trouble",
                Query(f"count({SCORE} >= 2) or vector(0)"),
                width=4,
                steps=(Step("green"), Step("red", 1)),
                description="Deployments with a concern in red (or two in orange).",
            ),
            stat(
                "Need a look",
                Query(f"count({SCORE} == 1) or vector(0)"),
                width=4,
                steps=(Step("green"), Step("orange", 1)),
                description="Deployments with one concern in orange.",
            ),
            stat(
                "Bridge lines dropped",
                Query(q.dropped_lines_per_minute()),
                unit="cpm",
                width=6,
                steps=(Step("green"), Step("red", 1)),
                description="statsd lines the bridges dropped (malformed, queue or buffer full, too long), "
                "fleet-wide: their metrics are missing from every panel.",
            ),
            stat(
                "Bridges down",
                Query(f"count(up{{{q.BRIDGE_JOB}}} == 0) or vector(0)"),
                width=6,
                steps=(Step("green"), Step("red", 1)),
            ),
        ),
    )


def deployments() -> Section:
    return Section(
        "Deployments, worst first",
        (
            table(
                "Health by deployment",
                "deployment",
                columns(),
                DEPLOYMENT_LINK,
                width=24,
                height=20,
                description="One row per deployment; a cell turns orange when worth a look and red on trouble "
                "(thresholds mean trouble, not busyness). Hover a column header for what it measures.",
            ),
        ),
    )


def build() -> core.Dashboard:
    return dashboard(
        "fleet",
        "Airflow fleet overview",
        "Every Airflow deployment of the fleet in one table, worst first: heartbeats against their norm, task "
        "failures, stuck queues, task pods that wait or die, parsing; a click opens the deployment.",
        [summary(), deployments()],
        [variables.datasource(), variables.deployment()],
    )
