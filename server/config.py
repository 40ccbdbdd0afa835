"""Where the license server keeps its database (standard library only: the
command line reads it to build its help before anything heavy is imported)."""

from __future__ import annotations

import os
from pathlib import Path


def default_db_url() -> str:
    """``LICWIZ_SERVER_DB``, else SQLite at ``$LICWIZ_SERVER_DIR/server.db``
    (default ``/var/lib/licwiz-server``)."""
    env = os.environ.get("LICWIZ_SERVER_DB")
    if env:
        return env
    base = Path(os.environ.get("LICWIZ_SERVER_DIR") or "/var/lib/licwiz-server")
    return f"sqlite+aiosqlite:///{base / 'server.db'}"
