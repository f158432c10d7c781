"""The compiled core (services/native.py): an extension older than its source never runs — importing the
package removes the whole compiled set first — and every compiled module is one the project can compile."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from services import native

ROOT = Path(__file__).resolve().parents[2]


def tree(tmp_path: Path, *, built_after_source: bool) -> tuple[Path, Path]:
    """A project root with every compiled module's source and its extension, and the shared library."""
    for module in native.MODULES:
        source = tmp_path / module
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text("x = 1\n")
        extension = source.with_name(f"{source.stem}.cpython-311-x86_64-linux-gnu.so")
        extension.write_bytes(b"")
        os.utime(source, (1000, 1000))
        os.utime(extension, (2000, 2000))
    shared = tmp_path / "services" / "native_core__mypyc.cpython-311-x86_64-linux-gnu.so"
    shared.write_bytes(b"")
    scoring = tmp_path / "services/domain/scoring.py"
    if not built_after_source:
        os.utime(scoring, (3000, 3000))  # edited after the build
    return scoring, shared


def test_extensions_built_after_their_sources_stay(tmp_path: Path) -> None:
    tree(tmp_path, built_after_source=True)
    assert native.stale(tmp_path) == [] and native.remove_stale(tmp_path) == []
    assert not native.missing(tmp_path)


def test_one_source_edited_after_the_build_removes_every_extension_and_the_shared_library(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scoring, shared = tree(tmp_path, built_after_source=False)
    stale = native.stale(tmp_path)
    assert scoring.with_name("scoring.cpython-311-x86_64-linux-gnu.so") in stale and shared in stale
    removed = native.remove_stale(tmp_path)
    assert len(removed) == len(native.MODULES) + 1  # all of them: they share one library
    assert not list(tmp_path.rglob("*.so")) and native.missing(tmp_path)
    assert "run as Python" in capsys.readouterr().err


def test_a_stale_extension_that_cannot_be_removed_stops_the_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree(tmp_path, built_after_source=False)

    def read_only(paths: list[Path]) -> None:
        raise PermissionError("read-only file system")

    monkeypatch.setattr(native, "remove", read_only)
    with pytest.raises(native.StaleExtension, match="could not be removed"):
        native.remove_stale(tmp_path)


@pytest.mark.parametrize("module", native.MODULES)
def test_a_compiled_module_has_no_pydantic_model_and_no_use_of_slots(module: str) -> None:
    """What mypyc-compiled code cannot do here: pydantic reads validators' signatures (compiled functions
    have none), and a compiled class has no ``__slots__`` attribute."""
    nodes = list(ast.walk(ast.parse((ROOT / module).read_text())))
    imported = {node.module for node in nodes if isinstance(node, ast.ImportFrom) and node.module}
    slots = [node for node in nodes if isinstance(node, ast.Attribute) and node.attr == "__slots__"]
    assert "pydantic" not in imported and not slots


def test_the_core_a_process_runs_is_the_compiled_one_exactly_when_every_extension_is_there() -> None:
    """What the scorer logs and exports as mp_scorer_core: "mypyc" when its processing came from the
    extension (make setup builds them all), "python" when from the source (MP_NATIVE=0, or none built)."""
    import services.scorer.processing as processing

    expected = "python" if native.missing() else "mypyc"
    assert native.running_core() == expected
    assert str(processing.__file__).endswith(".so") == (expected == "mypyc")
