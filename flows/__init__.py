"""Prefect layer over `pipeline/`: the align-articles flow, its deployment and a local server."""

# The folders a served flow run may read and write, set by `make serve` (flows/server.py) for
# the runner from its config's flow.allowed_roots: os.pathsep-separated absolute paths.
ALLOWED_ROOTS_VARIABLE = "PARALLAX_ALLOWED_ROOTS"
