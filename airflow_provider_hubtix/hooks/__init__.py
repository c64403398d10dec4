"""Hooks of the HubSpot tickets provider."""
