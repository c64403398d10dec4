"""A local HubSpot-compatible tickets API for DAG development and tests (standard library only).

``python -m airflow_provider_hubtix.sandbox --port 8765`` serves it; tests use
:class:`HubSpotSandbox` as a context manager or the ``hubspot_sandbox`` pytest fixture.
"""

from airflow_provider_hubtix.sandbox.server import HubSpotSandbox, SandboxStats

__all__ = ["HubSpotSandbox", "SandboxStats"]
