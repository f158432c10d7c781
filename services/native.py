"""The scorer's pure core compiled with mypyc (docs/performance.md, "The pure core compiled"): which modules,
building them, and never running a stale one. Standard library only: the package imports it at every start.

mypyc turns each module of ``MODULES`` into a C extension beside its source (``scoring.cpython-311-….so``
next to ``scoring.py``; one shared library for them all, ``services/native_core__mypyc….so``; gitignored),
which Python imports instead of the source. ``make setup`` builds them (``python services/native.py ensure``;
``MP_NATIVE=0 make …`` skips that, the Makefile reads it), and where that fails (no C compiler, say) says so
and leaves the sources to run as they are — the same code, slower. An extension older than its source would
run the old code: importing the ``services`` package removes such extensions first (``remove_stale``), so an
edited source runs uncompiled until the next build.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GROUP = "services.native_core"  # the shared library's module: inside the package, found by its importer
# The scorer's processing, no I/O, every one mypy-strict; no pydantic model among them (pydantic reads its
# validators' signatures, which compiled functions do not have: the configuration is in scoring_model.py).
MODULES = (
    "services/common/murmur2.py",
    "services/domain/dedup.py",
    "services/domain/erasure.py",
    "services/domain/events.py",
    "services/domain/matching.py",
    "services/domain/readings.py",
    "services/domain/scoring.py",
    "services/domain/watermarks.py",
    "services/domain/alerts/handoffs.py",
    "services/domain/alerts/model.py",
    "services/domain/alerts/recovery.py",
    "services/domain/alerts/routing.py",
    "services/domain/alerts/score_drops.py",
    "services/domain/alerts/sources.py",
    "services/domain/alerts/spikes.py",
    "services/domain/alerts/transactions.py",
    "services/domain/report/contributions.py",
    "services/domain/report/counters.py",
    "services/domain/report/handoff_matrix.py",
    "services/scorer/processing.py",
    "services/scorer/records.py",
)


def extensions(root: Path = ROOT) -> dict[Path, list[Path]]:
    """Each source of ``MODULES`` -> its built extensions (none: it runs as Python)."""
    return {
        root / module: sorted((root / module).parent.glob(f"{Path(module).stem}.cpython-*.so"))
        for module in MODULES
    }


def shared_libraries(root: Path = ROOT) -> list[Path]:
    return sorted((root / "services").glob(f"{GROUP.rsplit('.', 1)[1]}__mypyc.cpython-*.so"))


def stale(root: Path = ROOT) -> list[Path]:
    """The extensions built before their source last changed (and, with any of them, the shared library)."""
    old = [
        extension
        for source, of_source in extensions(root).items()
        for extension in of_source
        if extension.stat().st_mtime < source.stat().st_mtime
    ]
    return old + shared_libraries(root) if old else []


def built(root: Path = ROOT) -> list[Path]:
    """Every compiled file there is: the modules' extensions and the shared library."""
    return [path for paths in extensions(root).values() for path in paths] + shared_libraries(root)


def missing(root: Path = ROOT) -> bool:
    """Whether a module lacks its extension, or the shared library is absent."""
    return not all(extensions(root).values()) or not shared_libraries(root)


def running_core() -> str:
    """Which core this process runs: "mypyc" when the scorer's processing was imported from its compiled
    extension (and with it the modules it calls), "python" when from its source — the same code, slower
    (docs/performance.md, "The pure core compiled with mypyc": 1.2–1.6× the events per second)."""
    import services.scorer.processing as processing

    return "mypyc" if str(processing.__file__).endswith(".so") else "python"


def remove(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


class StaleExtension(ImportError):
    """A compiled module older than its source that could not be removed."""


def remove_stale(root: Path = ROOT) -> list[Path]:
    """Remove every extension (all of them: they share one library) once any is older than its source; what
    was removed. Called as the package is imported, before any of these modules is."""
    if not stale(root):
        return []
    compiled = built(root)
    try:
        remove(compiled)
    except OSError as error:
        raise StaleExtension(
            f"compiled modules older than their sources could not be removed ({error}): rebuild them "
            "(python services/native.py build) or remove them (python services/native.py clean)"
        ) from error
    print(
        "services: the compiled core was older than its sources and is removed; the sources run as Python "
        "until `make setup` (or python services/native.py build) compiles them again",
        file=sys.stderr,
    )
    return compiled


SETUP = """
import sys
from setuptools import setup
from mypyc.build import mypycify
root, group, *modules = sys.argv[1:]
sys.argv = [sys.argv[0], "build_ext", "--inplace"]
setup(
    name="mission-pulse-native",
    package_dir={"": root},
    ext_modules=mypycify(
        ["--config-file", f"{root}/pyproject.toml", *modules], group_name=group, opt_level="3"
    ),
)
"""


def build(root: Path = ROOT) -> bool:
    """Compile ``MODULES`` in place; whether it worked (if not, the sources run as Python)."""
    remove(built(root))
    sources = [str(root / module) for module in MODULES]
    # in a folder of its own: setuptools would read the project's pyproject.toml from the current one
    with tempfile.TemporaryDirectory(prefix="mp-native-") as work:
        command = [sys.executable, "-c", SETUP, str(root), GROUP, *sources]
        done = subprocess.run(command, cwd=work, capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-4000:], sep="\n", file=sys.stderr)
        return False
    return not missing(root)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "build"
    if command == "ensure":  # make setup: build unless built (and not stale: importing removed those)
        if not missing():
            return 0
        print("==> compiling the scorer's pure core with mypyc (about a minute; MP_NATIVE=0 skips it)")
        command = "build"
    if command == "clean":
        remove(built())
        print("compiled core removed: the scorer's processing runs as Python")
        return 0
    if command != "build":
        print("usage: python services/native.py [build|ensure|clean]", file=sys.stderr)
        return 2
    if build():
        print(f"compiled {len(MODULES)} modules of the scorer's pure core with mypyc")
        return 0
    print(
        "WARNING: could not compile the scorer's pure core with mypyc (output above); it runs as Python, "
        "the same code, slower (docs/performance.md); MP_NATIVE=0 stops trying",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
