"""OpenLineage datasets for the operators (used only when the openlineage provider is installed).

HubSpot's tickets are one dataset per portal host: namespace ``hubspot://<host>``, name
``crm.objects.tickets``. Files are named after OpenLineage's conventions: ``file`` plus the path
for local files, ``<scheme>://<bucket>`` plus the key for object storage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["TICKETS_DATASET", "file_dataset", "operator_lineage", "tickets_dataset"]

TICKETS_DATASET = "crm.objects.tickets"


def tickets_dataset(base_url: str) -> Any:
    """The HubSpot tickets of the portal behind ``base_url``.

    :param base_url: the connection's base URL.
    """
    from airflow.providers.common.compat.openlineage.facet import Dataset

    return Dataset(namespace=f"hubspot://{urlsplit(base_url).netloc}", name=TICKETS_DATASET)


def file_dataset(path: Any) -> Any:
    """A local or object-storage file or folder.

    :param path: a path, URI or ``ObjectStoragePath``.
    """
    from airflow.providers.common.compat.openlineage.facet import Dataset

    text = str(path)
    if "://" not in text or text.startswith("file://"):
        return Dataset(namespace="file", name=str(Path(text.removeprefix("file://")).absolute()))
    parts = urlsplit(text)
    return Dataset(namespace=f"{parts.scheme}://{parts.netloc}", name=parts.path.lstrip("/"))


def operator_lineage(inputs: list[Any], outputs: list[Any]) -> Any:
    """Wrap the datasets as OpenLineage's ``OperatorLineage``."""
    from airflow.providers.openlineage.extractors import OperatorLineage

    return OperatorLineage(inputs=inputs, outputs=outputs)
