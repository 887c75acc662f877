"""The operators' dashboard: one static page that polls the list endpoint."""
from __future__ import annotations

import functools
import os


@functools.cache
def dashboard_html() -> str:
    with open(os.path.join(os.path.dirname(__file__), "dashboard.html"), encoding="utf-8") as f:
        return f.read()
