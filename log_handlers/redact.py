"""Remove credentials from text before it reaches a log line, an error or a source list."""

from __future__ import annotations

import re

_SECRET_PARAMS = re.compile(
    r"(?i)\b(sig|signature|accountkey|sharedaccesssignature|x-amz-signature|x-amz-credential"
    r"|x-amz-security-token|token|access_token|client_secret|password|secret|key)=([^&;\s\"']+)"
)
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]+@")


def redact(text: str) -> str:
    """Mask query/connection-string secrets and URL user-info in ``text``."""
    text = _SECRET_PARAMS.sub(lambda m: f"{m.group(1)}=***", text)
    return _URL_USERINFO.sub(r"\1***@", text)
