"""Apache Airflow provider for HubSpot tickets."""

__version__ = "0.1.0"
