"""The Prefect flows of leads-import, their tasks, parameters, artifacts and deployments.

Importing this package sets Prefect's offline defaults (before any module of it imports
Prefect, which reads its settings once): no telemetry, no update checks, a quiet temporary
server. A value the user set wins.
"""

from __future__ import annotations

import os
from typing import Final

PREFECT_DEFAULTS: Final[dict[str, str]] = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "PREFECT_UI_ENABLED": "false",
}

for _name, _value in PREFECT_DEFAULTS.items():
    os.environ.setdefault(_name, _value)
