"""Talking to Kubernetes: configuration and kubeconfig contexts, credentials, cluster identity,
API discovery, listing (pages, retries, Status errors), decoding pages into a kind's columns,
CRDs and resource sets, and watching.

Nothing here knows PostgreSQL or Dagster; what it returns is handed down to ``store`` by the
runners (``dagster_edge``, ``watcher``)."""
