"""Operators of the HubSpot tickets provider."""
