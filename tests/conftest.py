"""Test-wide setup: tests see only the settings they pass, never a developer's `.env`.

`Settings` reads `./.env` (a copy of .env.example holds an API token, an app id, partition
counts); picked up from the repository root it would silently change what the tests test.
"""
from __future__ import annotations

from streams.settings import Settings

Settings.model_config["env_file"] = None
