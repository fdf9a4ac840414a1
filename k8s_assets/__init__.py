"""k8s-assets: every Kubernetes cluster you can reach, as one inventory in PostgreSQL."""

__version__ = "0.1.0"
