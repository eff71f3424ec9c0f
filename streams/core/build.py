"""Compile the SLA core's hot modules with Cython (`python -m streams.core.build`).

The modules stay plain Python: Cython compiles each `X.py` listed here, unchanged, into an
extension module `X.*.so` that Python then imports in preference to `X.py`. Where an augmenting
`X.pxd` sits beside it, its declarations type the module's classes, methods and locals; without
one (calendar) the module is compiled as it is. Where there is no C
compiler or no Python headers the build says so and the pure-Python modules run (same results,
slower); `make install` never fails for it. `SLAWATCH_PURE_PYTHON=1` ignores built modules
(the tests run the core both ways).

    python -m streams.core.build           # build in place (what `make install` runs)
    python -m streams.core.build --clean   # remove the built modules
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from . import built_files

CORE = Path(__file__).resolve().parent
# Order does not matter; a module not listed here is never compiled (and `clean` removes its build).
MODULES = ("engine", "metrics", "events", "calendar", "timeutil", "window_json")

DIRECTIVES = {
    "language_level": 3,
    # The sources' annotations are documentation (`t: int` may be any Python int, far beyond
    # 64 bits in the timer keys): only the .pxd declarations type anything.
    "annotation_typing": False,
    # Python semantics where they could differ: negative indexes, division, overflow checks.
    "wraparound": True,
    "cdivision": False,
    "binding": True,
    "embedsignature": True,
}


def clean(core: Path = CORE) -> int:
    """Remove every built module in `core`, listed in MODULES or not: a module taken off the
    list must not keep running from an old build."""
    removed = 0
    for source in sorted(core.glob("*.py")):
        name = source.stem
        for path in [*built_files(name, core), core / f"{name}.c"]:
            if path.exists():
                path.unlink()
                removed += 1
    return removed


def build(core: Path = CORE) -> list[str]:
    """Build every module in place in `core` (a `streams/core` directory); return the modules
    that could not be built, each with why."""
    try:
        from Cython.Build import cythonize
        from setuptools import Distribution, Extension
    except ImportError as exc:
        return [f"all: {exc}"]
    failed = []
    for name in MODULES:
        ext = Extension(f"streams.core.{name}", [str(core / f"{name}.py")])
        with tempfile.TemporaryDirectory() as tmp:
            try:
                modules = cythonize([ext], compiler_directives=DIRECTIVES, quiet=True,
                                    build_dir=tmp)
                dist = Distribution({"ext_modules": modules})
                cmd = dist.get_command_obj("build_ext")
                cmd.build_temp = tmp
                cmd.build_lib = str(core.parents[1])
                cmd.ensure_finalized()
                cmd.run()
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure means pure Python
                failed.append(f"{name}: {exc}")
    return failed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clean", action="store_true", help="remove the built modules")
    ap.add_argument("--stamp", type=Path, help="touch this file when everything compiled")
    args = ap.parse_args()
    if args.clean:
        print(f"removed {clean()} built file(s)")
        return
    clean()  # a stale module from an older source must never shadow the current one
    failed = build()
    for line in failed:
        print(f"streams.core.build: not compiled, the pure-Python module runs instead: {line}",
              file=sys.stderr)
    if not failed:
        print("streams.core.build: compiled " + ", ".join(MODULES))
        if args.stamp is not None:
            args.stamp.touch()


if __name__ == "__main__":
    main()
