"""Digital twin of a data hall: 3D airflow and temperature field, coupled to equipment models."""

__version__ = "0.1.0"
