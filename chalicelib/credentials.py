"""Credentials for the target system, kept out of the run table.

A request's credentials live in AWS Secrets Manager for the life of the run;
the run item holds only the secret's name. The stage's default credentials are
a secret too. Nothing here logs or returns a secret's value.
"""
from __future__ import annotations

import json

from botocore.exceptions import ClientError


class CredentialVault:
    def __init__(self, client, run_prefix: str, default_secret: str):
        self._sm = client
        self._prefix = run_prefix
        self._default = default_secret

    def store_for_run(self, run_id: str, credentials: dict) -> str:
        name = f"{self._prefix}{run_id}"
        self._sm.create_secret(Name=name, SecretString=json.dumps(credentials),
                               Tags=[{"Key": "records-migration:run", "Value": run_id}])
        return name

    def for_run(self, reference: str | None) -> dict | None:
        """The run's own credentials, else the stage's defaults, else None."""
        for name in (reference, self._default):
            if not name:
                continue
            try:
                return json.loads(self._sm.get_secret_value(SecretId=name)["SecretString"])
            except ClientError as err:
                if err.response["Error"]["Code"] != "ResourceNotFoundException":
                    raise
                if name == reference:
                    raise LookupError("the run's credentials are gone (the run has ended)") from None
        return None

    def forget(self, reference: str) -> None:
        try:
            self._sm.delete_secret(SecretId=reference, ForceDeleteWithoutRecovery=True)
        except ClientError as err:
            if err.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
