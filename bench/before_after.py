"""Markdown tables of `robot-rl bench ... --json` run before and after a change, side by side.

Reads `<dir>/<bench>_before.json` and `<dir>/<bench>_after.json` (written by running each benchmark
on the old and the new checkout, alternately, on one machine) and prints one table per benchmark
with the ratio after/before. docs/benchmarks.md quotes this output.

    .venv/bin/python bench/before_after.py bench/results/issue20
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _rows(bench: str, d: dict[str, Any]) -> dict[str, float]:
    """The figures of one result, by label."""
    out: dict[str, float] = {}
    if bench == "loop":
        for key, loop in d["loops"].items():
            out[f"{loop['robot']} {key}: latency p50 ms"] = loop["latency_ms"]["p50"]
            out[f"{loop['robot']} {key}: latency p99 ms"] = loop["latency_ms"]["p99"]
            out[f"{loop['robot']} {key}: jitter p99 ms"] = loop["jitter_ms"]["p99"]
    elif bench == "sim":
        for r in d["results"]:
            out[f"{r['robot']}/{r['task']}: steps/s"] = r["steps_per_s"]
            out[f"{r['robot']}/{r['task']}: reset ms"] = r["reset_ms"]
    elif bench == "experts":
        for r in d["results"]:
            mode = "randomized" if r["randomized"] else "nominal"
            out[f"{r['robot']}/{r['task']} {r['action_mode']} {mode}: success"] = r["success_rate"]
    elif bench == "learner":
        for name, r in d["learners"].items():
            out[f"{name}: critic updates/s"] = r["critic_updates_per_s"]
    elif bench.startswith("safety"):
        for r in d["results"]:
            out[f"{r['robot']}: box excursion mm"] = 1000 * r["box_excursion_m"]
            if "max_tilt_rad" in r:
                out[f"{r['robot']}: max tilt rad"] = r["max_tilt_rad"]
            out[f"{r['robot']}: wall s"] = r["wall_s"]
    return out


def table(folder: Path, bench: str) -> str:
    before = json.loads((folder / f"{bench}_before.json").read_text())
    after = json.loads((folder / f"{bench}_after.json").read_text())
    b, a = _rows(bench, before), _rows(bench, after)
    lines = [
        f"`{bench}` (before {before['machine']['date']}, after {after['machine']['date']}, "
        f"{after['machine']['cpu']}, {after['machine']['cores']} cores)",
        "",
        "| figure | before | after | after / before |",
        "|---|---|---|---|",
    ]
    for label in b:
        if label not in a:
            continue
        ratio = f"{a[label] / b[label]:.2f}" if b[label] else "-"
        lines.append(f"| {label} | {b[label]:.4g} | {a[label]:.4g} | {ratio} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    folder = Path(argv[0] if argv else "bench/results/issue20")
    benches = sorted({p.stem.rsplit("_", 1)[0] for p in folder.glob("*_before.json")})
    for bench in benches:
        if (folder / f"{bench}_after.json").exists():
            print(table(folder, bench) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
