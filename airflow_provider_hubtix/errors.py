"""The root of this package's exceptions, without Airflow, for the plain-Python core.

The core modules (inputs, jobs, execution …) must not import Airflow, so they raise
:class:`InvalidInputError`; the Airflow-facing errors of :mod:`airflow_provider_hubtix.exceptions`
extend :class:`HubtixError` too, so ``except HubtixError`` catches anything this package raises. A
DAG author only ever sees :class:`~airflow_provider_hubtix.exceptions.HubSpotError` and its
subclasses: the hook and the operators turn an :class:`InvalidInputError` into a
:class:`~airflow_provider_hubtix.exceptions.HubSpotInputError` in one place
(:func:`~airflow_provider_hubtix.exceptions.input_errors`).
"""

from __future__ import annotations

__all__ = ["HubtixError", "InvalidInputError"]


class HubtixError(Exception):
    """Root of every exception this package raises (Airflow-free)."""


class InvalidInputError(HubtixError, ValueError):
    """An input cannot be used; the message names the row and what to do."""
