"""The local stack: the whole service on one laptop, on an embedded AWS emulator.

Not shipped to Lambda. `python -m local_stack` (what `make run` runs) starts
moto in server mode, deploys infra/template.json into it, serves the Chalice app
over HTTP, emulates the event sources with pollers that call the very handlers
Lambda calls, and runs a sandbox target API to deliver to.
"""
