"""Issue, list and revoke API keys: the admin command, for the first key and for any tenant's.

    python -m tools.keys issue --tenant acme --role operator [--expires-at 2027-06-30T00:00:00Z] [--description "..."]
    python -m tools.keys list [--tenant acme]
    python -m tools.keys revoke KEY_ID

It writes the stage's access table directly, with the AWS credentials of
whoever runs it (an operator of the account, who needs no key to get one): the
stage comes from STAGE (or the table from ACCESS_TABLE_NAME), as for the service.
`--local` talks to the local stack's emulator instead (`make run`; its port from
EMULATOR_PORT, default 5001). A new key is printed once; the table keeps only a
salted hash of it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from chalicelib.access import ROLE_LABELS, KeyRequest, KeyStore
from chalicelib.config import Settings
from chalicelib.errors import ServiceError


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.keys", description=__doc__.split("\n\n")[0])
    parser.add_argument("--local", action="store_true", help="the local stack's emulator (make run)")
    commands = parser.add_subparsers(dest="command", required=True)
    issue = commands.add_parser("issue", help="issue a key and print it (once)")
    issue.add_argument("--tenant", default="default")
    issue.add_argument("--role", required=True, choices=ROLE_LABELS)
    issue.add_argument("--expires-at", help="ISO 8601 with a time zone, e.g. 2027-06-30T00:00:00Z")
    issue.add_argument("--description", default="")
    listing = commands.add_parser("list", help="list keys (never the keys themselves)")
    listing.add_argument("--tenant", help="one tenant's keys (default: every tenant's)")
    revoke = commands.add_parser("revoke", help="revoke a key at once")
    revoke.add_argument("key_id")
    return parser.parse_args(argv)


def key_store(local: bool) -> KeyStore:
    if local:
        from local_stack.environment import apply, local_environment
        port = os.environ.get("EMULATOR_PORT", "5001")
        apply(local_environment(emulator_url=f"http://127.0.0.1:{port}", target_url=""))
    import boto3
    return KeyStore(boto3.client("dynamodb"), Settings.from_environ().access_table_name)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    keys = key_store(args.local)
    operator = f"admin command ({os.environ.get('USER', 'unknown user')})"
    try:
        if args.command == "issue":
            request = KeyRequest.model_validate({"tenant": args.tenant, "role": args.role,
                                                 "expires_at": args.expires_at, "description": args.description},
                                                strict=False)
            stored, key = keys.issue(request, created_by=operator)
            print(json.dumps(stored.public(), indent=2))
            print(f"\nThe key (shown only now; send it as 'Authorization: Bearer <key>'):\n{key}")
        elif args.command == "list":
            print(json.dumps([k.public() for k in keys.list(args.tenant)], indent=2))
        else:
            stored = keys.revoke(args.key_id, revoked_by=operator)
            if stored is None:
                print(f"error: no key {args.key_id!r}", file=sys.stderr)
                return 1
            print(json.dumps(stored.public(), indent=2))
    except (ServiceError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
