"""The README's example is the tested example DAG's code, not a copy that can drift."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def python_blocks(markdown: str) -> list[str]:
    return [part.split("```", 1)[0] for part in markdown.split("```python\n")[1:]]


def test_every_line_of_the_readme_example_is_in_the_example_dag() -> None:
    [example] = python_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    dag = (ROOT / "example_dags" / "example_kaleyra_outbound_call.py").read_text(encoding="utf-8")
    dag_lines = {line.strip() for line in dag.splitlines()}
    missing = [line for line in example.splitlines() if line.strip() and line.strip() not in dag_lines]
    assert missing == []
