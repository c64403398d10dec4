"""pytest plugin with the ``hubspot_sandbox`` fixture; opt-in (``pytest_plugins`` in a conftest or ``-p``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_hubtix.sandbox.server import HubSpotSandbox

__all__ = ["hubspot_sandbox"]


@pytest.fixture
def hubspot_sandbox() -> Iterator[HubSpotSandbox]:
    """A sandbox on a free port, token ``sandbox-token``, unique property ``external_id``."""
    with HubSpotSandbox(seed=1) as sandbox:
        yield sandbox
