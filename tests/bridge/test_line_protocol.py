"""statsd_exporter's own line and packet cases, plus Go-strict numbers and name escaping."""

from __future__ import annotations

import json
import math

import pytest
from support.common import DATA

from airglow.bridge.gofloat import format_float, format_openmetrics_float, parse_float
from airglow.bridge.line import ParserOptions, parse_line
from airglow.bridge.names import escape_metric_name

LINE_SUITES = json.loads((DATA / "statsd_exporter_line_cases.json").read_text())["suites"]
PACKETS = json.loads((DATA / "statsd_exporter_packet_cases.json").read_text())["cases"]


def _events(parsed) -> list[dict]:
    return [
        {"kind": e.kind, "name": e.name, "value": e.value, "labels": e.labels, "relative": e.relative}
        for e in parsed.events
        for _ in range(e.repeat)  # a sampled timer's event stands for 1 / rate observations
    ]


def _assert_events(got: list[dict], expected: list[dict]) -> None:
    assert len(got) == len(expected), (got, expected)
    for g, e in zip(got, expected, strict=True):
        assert (g["kind"], g["name"], g["labels"], g["relative"]) == (
            e["kind"],
            e["name"],
            e["labels"],
            e.get("relative", False),
        )
        assert math.isclose(g["value"], e["value"], rel_tol=1e-12), (g, e)


LINE_CASES = [
    pytest.param(suite["options"], case, id=f"{suite['suite']}/{case['name']}")
    for suite in LINE_SUITES
    for case in suite["cases"]
]


@pytest.mark.parametrize(("options", "case"), LINE_CASES)
def test_line_cases_of_statsd_exporter(options: dict, case: dict) -> None:
    parsed = parse_line(case["line_latin1"].encode("latin-1"), ParserOptions(**options))
    _assert_events(_events(parsed), case["events"])
    assert parsed.errors == case["errors"]
    assert parsed.tag_errors == case["tag_errors"]


@pytest.mark.parametrize("case", PACKETS, ids=[c["name"] for c in PACKETS])
def test_packet_cases_of_statsd_exporter(case: dict) -> None:
    events, errors = [], []
    for line in case["packet_latin1"].encode("latin-1").split(b"\n"):
        parsed = parse_line(line, ParserOptions())
        events += _events(parsed)
        errors += parsed.errors
    _assert_events(events, case["events"])
    assert errors == case["errors"]


def test_every_sample_is_counted_once_as_event_source_or_error() -> None:
    parsed = parse_line(b"a:1|c:x|c:2|s:3|g", ParserOptions())
    assert parsed.samples == 4
    assert [e.value for e in parsed.events] == [1.0, 3.0]
    assert parsed.errors == ["malformed_value", "illegal_event"]


@pytest.mark.parametrize(
    ("line", "events", "errors"),
    [
        ("foo:1|c|@0.5", [("counter", 2.0)], []),
        ("foo:10|ms|@0.5", [("observer", 0.01)] * 2, []),
        ("foo:10|h|@0.3", [("observer", 10.0)] * 3, []),
        ("foo:10|ms|@2", [], []),
        ("foo:5|g|@0.1", [("gauge", 5.0)], []),
        ("foo:5|c|@0", [("counter", 5.0)], []),
        ("foo:5|c|@x", [("counter", 5.0)], ["invalid_sample_factor"]),
        ("foo:1|s", [], ["illegal_event"]),
        ("foo:1|s|@0.1", [], ["illegal_event"]),
        ("foo:1|c|T12345", [("counter", 1.0)], []),
        # one event however low the rate, up to a documented maximum repeat
        ("foo:10|ms|@0.000001", [("observer", 0.01)] * 1_000_000, []),
        ("foo:10|ms|@0.0000001", [], ["sample_rate_too_low"]),
        ("foo:10|ms|@1e-320", [], ["sample_rate_too_low"]),
        # a trailing ":" starts a second (empty) sample, as in statsd_exporter
        ("foo:1|c|c:", [], ["malformed_container_id", "malformed_component"]),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_sampling_units_and_suffixes(line: str, events: list, errors: list) -> None:
    parsed = parse_line(line.encode(), ParserOptions())
    observed = [(e.kind, e.value) for e in parsed.events for _ in range(e.repeat)]
    assert [kind for kind, _ in observed] == [kind for kind, _ in events]
    assert [value for _, value in observed] == pytest.approx([value for _, value in events])
    assert parsed.errors == errors


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1.0),
        ("-2.5", -2.5),
        ("+3", 3.0),
        ("1_000", 1000.0),
        ("1_0.5_0", 10.5),
        ("Inf", math.inf),
        ("-inf", -math.inf),
        ("+Infinity", math.inf),
        ("1e3", 1000.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("0x1p-2", 0.25),
        ("0x_1p1", 2.0),
        ("1e-400", 0.0),
    ],
)
def test_values_go_accepts(text: str, expected: float) -> None:
    assert parse_float(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        " 1",
        "1 ",
        "",
        ".",
        "1__0",
        "_1",
        "1_",
        "1e400",
        "+nan",
        "-NaN",
        "0x1",
        "١",
        "1.5.2",
        "e5",
        "0x",
        "1e",
        "++1",
    ],
)
def test_values_go_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_float(text)
    assert parse_line(f"m:{text}|c".encode(), ParserOptions()).errors == ["malformed_value"]


def test_nan_is_a_value() -> None:
    assert math.isnan(parse_float("NaN"))


@pytest.mark.parametrize(
    ("value", "text", "openmetrics"),
    [
        (1.0, "1", "1.0"),
        (0.0, "0", "0.0"),
        (1e6, "1e+06", "1e+06"),
        (123456.0, "123456", "123456.0"),
        (1234567.0, "1.234567e+06", "1.234567e+06"),
        (0.005, "0.005", "0.005"),
        (1.5e-7, "1.5e-07", "1.5e-07"),
        (math.inf, "+Inf", "+Inf"),
        (-math.inf, "-Inf", "-Inf"),
        (math.nan, "NaN", "NaN"),
        (-0.0, "-0", "-0.0"),
        (0.1 + 0.2, "0.30000000000000004", "0.30000000000000004"),
    ],
)
def test_values_written_as_client_golang_writes_them(value: float, text: str, openmetrics: str) -> None:
    assert format_float(value) == text
    assert format_openmetrics_float(value) == openmetrics


@pytest.mark.parametrize(
    ("name", "escaped"),
    [
        ("clean", "clean"),
        ("0starts_with_digit", "_0starts_with_digit"),
        ("with_underscore", "with_underscore"),
        ("with--doubledash", "with_doubledash"),
        ("with---multiple-dashes", "with_multiple_dashes"),
        ("with.dot", "with_dot"),
        ("with😱emoji", "with_emoji"),
        ("with.*.multiple", "with___multiple"),
        ("test.web-server.foo.bar", "test_web_server_foo_bar"),
        ("", ""),
    ],
)
def test_escape_cases_of_statsd_exporter(name: str, escaped: str) -> None:
    assert escape_metric_name(name) == escaped
