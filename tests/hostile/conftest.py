"""One deployment for the whole hostile suite: starting it costs seconds, each attack milliseconds."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.hostile.service import Service, running_service


@pytest.fixture(scope="package")
def service(tmp_path_factory: pytest.TempPathFactory, database_url: str, redis_url: str) -> Iterator[Service]:
    with running_service(tmp_path_factory.mktemp("hostile"), database_url, redis_url) as deployment:
        yield deployment
