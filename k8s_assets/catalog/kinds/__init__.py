"""The typed kinds, one module per API area (the Dagster asset group of its kinds)."""
