"""The compiled SLA core (streams/core/build.py) against its pure-Python source.

`make test` runs the whole suite on the compiled engine and the core and replay tests again with
`SLAWATCH_PURE_PYTHON=1`; these tests check the switch itself, that the two give the same records
in one process, that an out-of-date build is never used, and that a failed build leaves the pure
modules in charge.
"""
from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

import streams.core as core
from streams.core import build as core_build
from streams.core import engine
from streams.core.events import decode_event_at
from streams.core.policy import load_policies
from streams.generator import GeneratorConfig, generate

ROOT = Path(__file__).resolve().parents[2]
PURE = bool(os.environ.get(core.PURE_ENV))


def _pure_engine_module():
    """engine.py loaded from source under another name, beside whichever engine is imported."""
    spec = importlib.util.spec_from_file_location("streams.core._engine_source",
                                                  ROOT / "streams" / "core" / "engine.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", core_build.MODULES)
def test_each_listed_module_runs_compiled_unless_pure_python_is_asked_for(name) -> None:
    # `make install` builds them (with the compiler `make system` installs): a build that
    # silently failed would otherwise go unnoticed, the tests passing on the pure modules.
    module = importlib.import_module(f"streams.core.{name}")
    if PURE:
        assert module.__file__.endswith(".py") and name not in core.compiled_modules()
    else:
        assert core.built_module(name) is not None, "run `make install` (python -m streams.core.build)"
        assert not module.__file__.endswith(".py")
        assert name in core.compiled_modules()


def test_compiled_and_source_engines_give_the_same_records_and_counts() -> None:
    source = _pure_engine_module()
    assert source.__file__.endswith("engine.py")
    policies = load_policies(ROOT / "rules" / "sla.yaml")
    events = sorted((decode_event_at(orjson.dumps(e))
                     for e in generate(GeneratorConfig(seed=11, days=2))), key=lambda p: p[1])
    # Duplicates, an orphan and time advanced between events exercise the other paths too.
    events += events[:50]
    results = []
    for module in (engine, source):
        eng = module.SlaEngine(policies)
        for ev, t in events:
            eng.apply(ev, t)
        eng.advance(events[-1][1] + 7 * 86_400_000_000)
        records = [r.to_json() for r in eng.drain()]
        results.append((records, eng.stats.as_dict(), eng.open_entities))
    assert len(results[0][0]) > 1000
    assert results[0] == results[1]


def test_an_out_of_date_build_is_ignored_with_a_warning(tmp_path) -> None:
    if core.built_module("engine") is None:
        pytest.skip("no build here to go out of date (covered by the test above under make test)")
    shutil.copytree(ROOT / "streams", tmp_path / "streams",
                    ignore=shutil.ignore_patterns("__pycache__"))
    src = tmp_path / "streams" / "core" / "engine.py"
    assert core.stale_build("engine", src.parent) is False
    later = time.time() + 5
    os.utime(src, (later, later))  # edited (or checked out) after the build
    assert core.stale_build("engine", src.parent) is True
    probe = ("import warnings; warnings.simplefilter('always')\n"
             "import streams.core.engine as e, streams.core as c\n"
             "print(e.__file__, c.compiled_modules())")
    env = {k: v for k, v in os.environ.items() if k != core.PURE_ENV}
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == str(src)
    assert "older than engine.py or engine.pxd" in out.stderr and "make install" in out.stderr


def test_pure_python_switch_ignores_a_current_build(tmp_path) -> None:
    if core.built_module("engine") is None:
        pytest.skip("no build here to ignore")
    probe = "import streams.core.engine as e; print(e.__file__)"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, core.PURE_ENV: "1"}, timeout=60)
    assert out.stdout.strip().endswith("streams/core/engine.py"), out.stderr


def test_a_failed_build_reports_why_and_leaves_the_source_in_charge(tmp_path, monkeypatch) -> None:
    shutil.copytree(ROOT / "streams" / "core", tmp_path / "streams" / "core",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.c"))
    monkeypatch.setenv("CC", "false")  # a compiler that fails, as a missing one would
    monkeypatch.setenv("LDSHARED", "false")
    failed = core_build.build(tmp_path / "streams" / "core")
    assert [line.split(":")[0] for line in failed] == list(core_build.MODULES)
    assert core.built_files("engine", tmp_path / "streams" / "core") == []
    assert core.built_module("engine", tmp_path / "streams" / "core") is None


def test_clean_removes_every_build_even_of_a_module_no_longer_listed(tmp_path) -> None:
    core_dir = tmp_path / "streams" / "core"
    core_dir.mkdir(parents=True)
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    for name in ("engine", "retired"):  # "retired": compiled once, since taken off MODULES
        (core_dir / f"{name}.py").write_text("")
        (core_dir / f"{name}{suffix}").write_bytes(b"")
        (core_dir / f"{name}.c").write_text("")
    (core_dir / "notes.so.txt").write_text("")  # not a build: left alone
    assert "retired" not in core_build.MODULES
    assert core_build.clean(core_dir) == 4
    assert sorted(p.name for p in core_dir.iterdir()) == ["engine.py", "notes.so.txt", "retired.py"]


def test_core_label_names_the_current_builds_or_why_not(monkeypatch) -> None:
    monkeypatch.setenv(core.PURE_ENV, "1")
    assert core.core_label() == f"pure Python ({core.PURE_ENV} is set)"
    monkeypatch.delenv(core.PURE_ENV)
    current = [m for m in sorted(core_build.MODULES) if core.built_module(m) and not core.stale_build(m)]
    if current:
        assert core.core_label() == ", ".join(current) + " compiled"
    else:
        assert core.core_label().startswith("pure Python (no current build")
