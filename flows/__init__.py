"""Prefect layer over `pipeline/`: the align-articles flow, its deployment and a local server."""
