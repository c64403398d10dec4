"""The provider metadata Airflow reads and the hook's class attributes."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import airflow
import jsonschema

from airflow_provider_hubtix.get_provider_info import get_provider_info
from airflow_provider_hubtix.hooks.tickets import HubSpotTicketsHook
from tests.connection_form import EXTRA_FIELDS


def test_provider_info_is_valid_for_airflow() -> None:
    info = get_provider_info()
    schema_dir = Path(airflow.__file__).parent
    jsonschema.validate(info, json.loads((schema_dir / "provider_info.schema.json").read_text()))
    yaml_schema = json.loads((schema_dir / "provider.yaml.schema.json").read_text())
    for connection_type in info["connection-types"]:
        jsonschema.validate(connection_type, yaml_schema["properties"]["connection-types"]["items"])
    assert info["package-name"] == "airflow-provider-hubtix"
    (hubspot,) = info["connection-types"]
    assert hubspot["connection-type"] == "hubspot"
    module, _, name = hubspot["hook-class-name"].rpartition(".")
    assert getattr(importlib.import_module(module), name) is HubSpotTicketsHook
    assert set(hubspot["conn-fields"]) == set(EXTRA_FIELDS)
    assert hubspot["ui-field-behaviour"]["relabeling"]["password"] == "Access token"


def test_hook_class_attributes() -> None:
    assert HubSpotTicketsHook.conn_type == "hubspot"
    assert HubSpotTicketsHook.default_conn_name == "hubspot_default"
    assert HubSpotTicketsHook.conn_name_attr == "hubspot_conn_id"
    assert HubSpotTicketsHook.hook_name == "HubSpot"
