"""Commands for people who prepare migrations; not shipped to Lambda."""
