"""The one parser of the ISO 8601 timestamps task logs carry (Airflow's structlog events, Elasticsearch's
``@timestamp``): ``Z`` or an offset, up to nanoseconds; a time without a zone is UTC."""

from __future__ import annotations

import re
from datetime import datetime, timezone

# Python 3.10's fromisoformat takes neither "Z" nor more than six fractional digits.
_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_timestamp(text: str) -> datetime | None:
    """The moment ``text`` names, timezone-aware; None when it is not an ISO 8601 timestamp."""
    try:
        moment = datetime.fromisoformat(_FRACTION.sub(r"\1", text.strip()).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
