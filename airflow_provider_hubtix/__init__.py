"""Apache Airflow provider for HubSpot tickets."""

__all__ = ["__version__"]

__version__ = "0.1.0"
