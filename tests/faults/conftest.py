"""Fixtures of the fault tests.

- ``private_pg`` (module scope): a PostgreSQL cluster of this test module's own
  (tests/faults/pgcluster.py), which tests may stop and start; never the
  machine's shared one at 127.0.0.1:5432. Skips when PostgreSQL is not
  installed, fails instead when CI=true.
- ``pg``: ``private_pg``, running at the start of the test (a test before may
  have left it stopped).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from faults.pgcluster import PrivateCluster, pg_bin


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PrivateCluster]:
    if pg_bin("initdb") is None or pg_bin("pg_ctl") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL's initdb and pg_ctl are required in CI")
        pytest.skip("PostgreSQL (initdb, pg_ctl) is not installed")
    cluster = PrivateCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def pg(private_pg: PrivateCluster) -> PrivateCluster:
    if not private_pg.running():
        private_pg.start()
    return private_pg
