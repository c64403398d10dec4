"""Provider metadata read by Airflow's ProvidersManager (kept import-cheap on purpose)."""

from __future__ import annotations

from typing import Any

__all__ = ["get_provider_info"]


def get_provider_info() -> dict[str, Any]:
    """Describe this provider, its hook and the ``hubspot`` connection form to Airflow."""
    return {
        "package-name": "airflow-provider-hubtix",
        "name": "HubSpot Tickets (hubtix)",
        "description": "Batch create and batch read HubSpot tickets, safely and at HubSpot's rate ceiling.",
        "versions": ["0.1.0"],
        "integrations": [
            {
                "integration-name": "HubSpot",
                "external-doc-url": "https://developers.hubspot.com/docs/api/crm/tickets",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "HubSpot",
                "python-modules": ["airflow_provider_hubtix.hooks.tickets"],
            }
        ],
        "operators": [
            {
                "integration-name": "HubSpot",
                "python-modules": ["airflow_provider_hubtix.operators.tickets"],
            }
        ],
        "connection-types": [
            {
                "connection-type": "hubspot",
                "hook-class-name": "airflow_provider_hubtix.hooks.tickets.HubSpotTicketsHook",
                "hook-name": "HubSpot",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "login"],
                    "relabeling": {"password": "Access token", "host": "Base URL"},
                    "placeholders": {
                        "host": "https://api.hubapi.com",
                        "password": "pat-na1-… (private app token, service key or OAuth access token)",
                    },
                },
                "conn-fields": {
                    "api_version": {
                        "label": "API version",
                        "description": "'v3' (/crm/v3/...) or '2026-03' (/crm/objects/2026-03/...). "
                        "v3 paths are unsupported from Sept 2027.",
                        "schema": {"type": "string", "enum": ["v3", "2026-03"], "default": "v3"},
                    },
                    "requests_per_10s": {
                        "label": "Requests per 10 s",
                        "description": "This connection's rate budget. Empty: learn it from HubSpot's "
                        "X-HubSpot-RateLimit-Max header.",
                        "schema": {"type": ["integer", "null"], "minimum": 1},
                    },
                    "daily_reserve": {
                        "label": "Daily reserve",
                        "description": "Requests of the account's daily limit to leave to its other "
                        "integrations: a number (e.g. 10000) or a percentage of the limit (e.g. 10%). "
                        "Empty: 5%. 0: none (run until HubSpot refuses).",
                        "schema": {"type": ["string", "null"]},
                    },
                    "timeout": {
                        "label": "Timeout (s)",
                        "description": "Seconds to wait for HubSpot to answer one request.",
                        "schema": {"type": ["number", "null"], "minimum": 1},
                    },
                    "client_id": {
                        "label": "OAuth client id",
                        "description": "With client secret and refresh token: refresh expired access tokens.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "client_secret": {
                        "label": "OAuth client secret",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "refresh_token": {
                        "label": "OAuth refresh token",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                },
            }
        ],
    }
