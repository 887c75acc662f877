"""`migrate`: the operators' command-line client of the records migration service (docs/cli.md).

It speaks only the service's public HTTP API, so it works against the local stack (`make run`) and a
deployed stage alike; it imports nothing of the service itself.
"""
__version__ = "1.0.0"
