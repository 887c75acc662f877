"""`python -m migrate_cli`: the same as the `migrate` console script."""
from migrate_cli.main import main

main()
