"""One node of the service: its gunicorn workers, moving codebases between nodes, the ring."""
