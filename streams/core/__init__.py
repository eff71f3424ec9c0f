"""The pure core: events in, state changes out. No I/O, no wall clock, no Kafka/ClickHouse/Prometheus imports.

Everything that decides an SLA outcome lives here so that the live worker, the offline
`slawatch replay` and the tests drive exactly the same code.

Some modules may also exist compiled (`streams/core/build.py`: the same source, typed by a
`.pxd`, built by `make install`). Python would import a compiled module in preference to its
source; this package makes sure that never means running out-of-date code: a build older than
its `.py` or `.pxd` is ignored (with a warning saying how to rebuild), and
`SLAWATCH_PURE_PYTHON=1` ignores every build (the reference the tests hold the builds to).
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
import warnings
from pathlib import Path

_HERE = Path(__file__).resolve().parent
PURE_ENV = "SLAWATCH_PURE_PYTHON"


def built_files(name: str, core: Path = _HERE) -> list[Path]:
    """Every compiled file of core module `name` in `core` (one per extension suffix)."""
    return [path for suffix in importlib.machinery.EXTENSION_SUFFIXES
            if (path := core / f"{name}{suffix}").exists()]


def built_module(name: str, core: Path = _HERE) -> Path | None:
    """The compiled file of core module `name` in `core` that Python would import, if any."""
    files = built_files(name, core)
    return files[0] if files else None


def stale_build(name: str, core: Path = _HERE) -> bool:
    """True when `name`'s build is older than its source or declarations (edited, checked out)."""
    built = built_module(name, core)
    if built is None:
        return False
    made = built.stat().st_mtime
    sources = [core / f"{name}.py", core / f"{name}.pxd"]
    return any(src.exists() and src.stat().st_mtime > made for src in sources)


def compiled_modules() -> list[str]:
    """The core modules running compiled in this process (for logs and `/status`)."""
    out = []
    for name, module in list(sys.modules.items()):
        if name.startswith(__name__ + ".") and getattr(module, "__file__", None):
            if any(module.__file__.endswith(s) for s in importlib.machinery.EXTENSION_SUFFIXES):
                out.append(name.rpartition(".")[2])
    return sorted(out)


def core_build_status() -> dict:
    """`{"compiled": [modules], "why": text}` for `/status` and the worker's start-up log."""
    compiled = compiled_modules()
    if compiled:
        why = "compiled by `make install` (python -m streams.core.build)"
    elif os.environ.get(PURE_ENV):
        why = f"{PURE_ENV} is set"
    else:
        why = "no current build (`make install` or `python -m streams.core.build` compiles it)"
    return {"compiled": compiled, "why": why}


def core_label() -> str:
    """One line for benchmarks: the core modules that a process started now runs compiled
    (current builds, unless SLAWATCH_PURE_PYTHON is set), or why it runs pure Python."""
    if os.environ.get(PURE_ENV):
        return f"pure Python ({PURE_ENV} is set)"
    current = [p.stem for p in sorted(_HERE.glob("*.py"))
               if built_module(p.stem) is not None and not stale_build(p.stem)]
    if not current:
        return "pure Python (no current build: `make install` compiles it)"
    return ", ".join(current) + " compiled"


class _SourceFirst:
    """Meta-path finder: the `.py` of a core module whose build must not be used."""

    @staticmethod
    def find_spec(fullname: str, path=None, target=None):
        package, _, leaf = fullname.rpartition(".")
        if package != __name__ or built_module(leaf) is None:
            return None
        if not os.environ.get(PURE_ENV):
            if not stale_build(leaf):
                return None  # the build is current: let the normal import load it
            warnings.warn(f"{fullname}: the compiled module is older than {leaf}.py or {leaf}.pxd "
                          "and is ignored (pure Python runs); rebuild with `make install` or "
                          "`python -m streams.core.build`", RuntimeWarning, stacklevel=2)
        source = _HERE / f"{leaf}.py"
        return importlib.util.spec_from_file_location(fullname, source) if source.exists() else None


sys.meta_path.insert(0, _SourceFirst)
