"""Where the client sends its requests and with which key: flags, then the environment, then a config file.

The config file is TOML, `$MIGRATE_CONFIG` or `~/.config/migrate/config.toml` (`$XDG_CONFIG_HOME` honoured):

    url = "http://127.0.0.1:8000"          # the defaults, used without --profile
    [profiles.prod]
    url = "https://abc123.execute-api.eu-west-1.amazonaws.com/api"
    key = "rmk_..."

`--profile NAME` (or `MIGRATE_PROFILE`) picks a profile; its values win over the file's top-level ones.
The key is a secret: it is never part of `Settings`' repr, and nothing here prints it.
"""
from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

DEFAULT_URL = "http://127.0.0.1:8000"
KNOWN_KEYS = ("url", "key")


class SettingsError(Exception):
    """The settings cannot be used (a config file that cannot be read, an unknown profile, a bad URL)."""


@dataclass(frozen=True)
class Settings:
    url: str
    key: str | None = field(default=None, repr=False)  # a secret: kept out of repr, and so out of tracebacks
    warnings: tuple[str, ...] = ()

    @property
    def shown_url(self) -> str:
        return shown_url(self.url)


def shown_url(url: str) -> str:
    """The URL as it may be printed: without a user or password in it."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def config_path(environ: dict[str, str]) -> str:
    if environ.get("MIGRATE_CONFIG"):
        return os.path.expanduser(environ["MIGRATE_CONFIG"])
    base = environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "migrate", "config.toml")


def _read_config(path: str, explicit: bool) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        if explicit:  # a file the user named must be there; the default one is optional
            raise SettingsError(f"config file {path} does not exist") from None
        return {}
    except tomllib.TOMLDecodeError as err:
        # The decoder's message names a line and column, never the value found there.
        raise SettingsError(f"config file {path} is not valid TOML: {err}") from None
    except OSError as err:
        raise SettingsError(f"config file {path} cannot be read: {err.strerror}") from None


def _section(values: dict, where: str) -> dict:
    unknown = sorted(set(values) - set(KNOWN_KEYS) - {"profiles"})
    if unknown:
        raise SettingsError(f"{where}: unknown setting {unknown[0]!r} (known: {', '.join(KNOWN_KEYS)})")
    for name in KNOWN_KEYS:
        if name in values and not isinstance(values[name], str):
            raise SettingsError(f"{where}: {name} must be a string")
    return {name: values[name] for name in KNOWN_KEYS if values.get(name)}


def resolve(url: str | None = None, key: str | None = None, profile: str | None = None,
            config: str | None = None, environ: dict[str, str] | None = None) -> Settings:
    """The settings to use: a flag wins over the environment, which wins over the config file's profile,
    which wins over the file's top level; the URL defaults to the local stack."""
    env = dict(os.environ if environ is None else environ)
    path = os.path.expanduser(config) if config else config_path(env)
    explicit = bool(config or env.get("MIGRATE_CONFIG"))
    document = _read_config(path, explicit)
    from_file = _section(document, path)
    profile = profile or env.get("MIGRATE_PROFILE")
    if profile:
        profiles = document.get("profiles", {})
        if not isinstance(profiles, dict) or not isinstance(profiles.get(profile), dict):
            known = ", ".join(sorted(profiles)) if isinstance(profiles, dict) and profiles else "none"
            raise SettingsError(f"no profile {profile!r} in {path} (profiles: {known})")
        from_file.update(_section(profiles[profile], f"{path} [profiles.{profile}]"))
    warnings = []
    if from_file.get("key") and _readable_by_others(path):
        warnings.append(f"{path} holds an API key and other users may read it: chmod 600 {path}")
    chosen_url = url or env.get("MIGRATE_URL") or from_file.get("url") or DEFAULT_URL
    parts = urlsplit(chosen_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"the service URL must be http(s)://host[:port][/path], not {shown_url(chosen_url)!r}")
    chosen_key = key or env.get("MIGRATE_KEY") or from_file.get("key") or None
    return Settings(url=chosen_url.rstrip("/"), key=chosen_key, warnings=tuple(warnings))


def _readable_by_others(path: str) -> bool:
    try:
        return bool(os.stat(path).st_mode & (stat.S_IRGRP | stat.S_IROTH))
    except OSError:
        return False
