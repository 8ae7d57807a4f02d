"""Print the benchmark's figures and ratios as plain-text tables."""

from __future__ import annotations

from typing import Any


def _rule(widths: list[int]) -> str:
    return "  ".join("-" * w for w in widths)


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    """A left-aligned first column, the others right-aligned."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print(f"\n{title}")
    cells = [header, None, *rows]
    for row in cells:
        if row is None:
            print(_rule(widths))
            continue
        first = row[0].ljust(widths[0])
        rest = [cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True)]
        print("  ".join([first, *rest]))


def print_machine(machine: dict[str, str]) -> None:
    print("Machine")
    for key, value in machine.items():
        print(f"  {key:<12} {value}")


def print_figures(figures: list[tuple[str, str]]) -> None:
    print_table("Figures", ["measurement", "value"], [[name, value] for name, value in figures])


def print_ratios(ratios: list[dict[str, Any]]) -> None:
    rows = [
        [r["name"], f"{r['value']:.2f}", r["target"], "yes" if r["met"] else "NO"] for r in ratios
    ]
    print_table("Ratios and targets", ["ratio", "value", "target", "met"], rows)
