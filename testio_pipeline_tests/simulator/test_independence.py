"""The simulator and its ground truth import nothing of the pipeline: a wrong assumption in the
pipeline can never sit on both sides of a comparison."""

from __future__ import annotations

import ast
from pathlib import Path

import testio_pipeline.testio.simulator as simulator

SIMULATOR = Path(simulator.__file__).parent
ALLOWED = "testio_pipeline.testio.simulator"


def test_the_simulator_imports_only_itself_of_the_project() -> None:
    outside = []
    for module in sorted(SIMULATOR.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text())):
            names = (
                [alias.name for alias in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            )
            outside += [
                f"{module.name}: {name}" for name in names
                if name.startswith("testio_pipeline") and not name.startswith(ALLOWED)
            ]
    assert not outside, outside
