"""The Dagster edge: assets and their specs, the one-step-per-cluster sync, asset checks, the IO
manager, resources, schedules and Dagster's own storage in the inventory's PostgreSQL.

Dagster metadata is made here, once, from the typed listings (``store.contract``) the lower
layers return; ``k8s_assets.definitions`` assembles these parts for Dagster to load."""
