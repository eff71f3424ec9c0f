"""Reloading the SLA policy file in a running worker, on SIGHUP or when the file changes.

What a reload means (docs/reliability.md, "Policy reload"). The contract (sla.md) defines one
kind of policy change, the re-match of an entity whose attributes changed; a new policy file
is treated as that re-match for every open entity, at the moment of the reload in the
partition's event time (its engine clock):
- an entity whose policy (first match, in file order) is the same and defined the same way
  keeps its clocks untouched;
- otherwise its running and paused clocks keep their elapsed time and continue under the new
  policy's targets and calendars (a target already exceeded breaches at the reload instant;
  a breached clock stays breached), a metric the new policy lacks is cancelled, and a metric
  only the new policy has starts from the entity's start;
- an entity with no running or paused clock (a solved ticket) takes its new policy for what
  it starts later (a reopen); records already written are never rewritten;
- entities that start after the reload get the new policies.

A file that does not validate changes nothing: the running policies stay, and the error is
reported (log line with file, key path and line; `slawatch_policy_reload_failures_total`,
`slawatch_policy_last_reload_success` 0; `/status` "policy.last_error"). The file is checked
for changes once a second (stat: works for editors that replace the file and for Kubernetes
ConfigMap symlink swaps, where inotify misses the change); a change of content, not of mtime
alone, triggers the reload.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
from pathlib import Path
from typing import Iterable

import orjson
import yaml
from prometheus_client import CollectorRegistry, Counter, Gauge

from .core.engine import SlaEngine
from .core.policy import PolicyError, PolicySet, load_policies_text, read_rules_file
from .core.timeutil import format_us

log = logging.getLogger("slawatch.policy")

POLL_INTERVAL_S = 1.0


def fingerprints(text: str) -> dict[str, str]:
    """Per policy name, a digest of its definition and of the calendars its targets use: equal
    digests mean an entity under it measures exactly as before."""
    data = yaml.safe_load(text) or {}
    calendars = data.get("calendars") or {}
    out = {}
    for pol in data.get("policies") or []:
        used = sorted({t.get("calendar") for t in (pol.get("targets") or {}).values()
                       if isinstance(t, dict) and t.get("calendar")})
        blob = orjson.dumps([pol, {name: calendars.get(name) for name in used}],
                            option=orjson.OPT_SORT_KEYS, default=str)
        out[pol["name"]] = hashlib.sha256(blob).hexdigest()
    return out


class LoadedPolicies:
    """A validated policy file and what identifies it."""

    def __init__(self, policies: PolicySet, text: str) -> None:
        self.policies = policies
        self.sha256 = hashlib.sha256(text.encode()).hexdigest()
        data = yaml.safe_load(text) or {}
        self.version = str(data["version"]) if data.get("version") is not None else ""
        self.fingerprints = fingerprints(text)


def rematch(engine: SlaEngine, old: LoadedPolicies, new: LoadedPolicies, t: int) -> int:
    """Put `engine` under `new` at event time `t` (module doc); returns the entities re-matched.

    A policy whose definition (fingerprint) did not change is the same policy: its entities keep
    their clocks and due instants untouched."""
    def same(a, b) -> bool:
        return a.name == b.name and old.fingerprints.get(a.name) == new.fingerprints.get(b.name)

    return engine.reload_policies(new.policies, t, same)


class PolicyReloader:
    """Watches the policy file; `due()` says when to `load()`; metrics and status of reloads."""

    def __init__(self, path: str | os.PathLike, current: PolicySet,
                 registry: CollectorRegistry | None = None) -> None:
        self.path = Path(path)
        text, _ = read_rules_file(self.path, PolicyError, "policy file")
        self.current = LoadedPolicies(current, text)
        self._signature = self._stat()
        self._next_poll = time.monotonic() + POLL_INTERVAL_S
        self._requested = False
        self.loaded_at = time.time()
        self.reloads = 0
        self.failures = 0
        self.last_error: str | None = None
        r = registry if registry is not None else CollectorRegistry()
        self._reloads = Counter("slawatch_policy_reloads", "Policy file reloads applied", registry=r)
        self._failures = Counter("slawatch_policy_reload_failures",
                                 "Policy file reloads refused (invalid file: the running policy stays)",
                                 registry=r)
        self._ok = Gauge("slawatch_policy_last_reload_success",
                         "1 if the last reload attempt succeeded (or none was made), else 0", registry=r)
        self._info = Gauge("slawatch_policy_info", "The policy file in force (value 1)",
                           ["version", "sha256"], registry=r)
        self._ok.set(1)
        self._show_info()

    def _show_info(self) -> None:
        self._info.clear()
        self._info.labels(self.current.version, self.current.sha256[:12]).set(1)

    def _stat(self) -> tuple | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev)

    def request(self) -> None:
        """SIGHUP: reload at the next opportunity, changed or not."""
        self._requested = True

    def due(self) -> bool:
        if self._requested:
            return True
        now = time.monotonic()
        if now < self._next_poll:
            return False
        self._next_poll = now + POLL_INTERVAL_S
        return self._stat() != self._signature

    async def load(self) -> LoadedPolicies | None:
        """Read and validate the file (off the event loop). The new policies, or None when the
        file is unchanged or invalid (then reported and the running ones kept)."""
        forced, self._requested = self._requested, False
        self._signature = self._stat()
        try:
            text, source = await asyncio.to_thread(read_rules_file, self.path, PolicyError, "policy file")
            if not forced and hashlib.sha256(text.encode()).hexdigest() == self.current.sha256:
                return None   # touched, not changed
            loaded = await asyncio.to_thread(lambda: LoadedPolicies(load_policies_text(text, source), text))
        except PolicyError as exc:
            self.failures += 1
            self.last_error = str(exc)
            self._failures.inc()
            self._ok.set(0)
            log.error("policy reload refused, keeping version %r (sha256 %s):\n%s",
                      self.current.version, self.current.sha256[:12], exc)
            return None
        return loaded

    def applied(self, loaded: LoadedPolicies, rematched: int) -> None:
        previous = self.current
        self.current = loaded
        self.reloads += 1
        self.last_error = None
        self.loaded_at = time.time()
        self._reloads.inc()
        self._ok.set(1)
        self._show_info()
        log.warning("policy file %s reloaded: version %r -> %r (sha256 %s), %d open entities re-matched",
                    self.path, previous.version, loaded.version, loaded.sha256[:12], rematched)

    def status(self) -> dict:
        return {"file": str(self.path), "version": self.current.version,
                "sha256": self.current.sha256[:12],
                "loaded_at": format_us(int(self.loaded_at * 1_000_000)),
                "reloads": self.reloads, "failures": self.failures, "last_error": self.last_error}


def reload_engines(engines: Iterable[SlaEngine], old: LoadedPolicies, new: LoadedPolicies) -> int:
    """`rematch` every engine at its own event time; returns the entities re-matched."""
    return sum(rematch(engine, old, new, engine.now) for engine in engines)
