"""Operators of the HubSpot tickets provider."""

__all__: list[str] = []
