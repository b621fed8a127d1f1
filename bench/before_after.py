"""Markdown tables of `robot-rl bench ... --json` run before and after a change, side by side.

Reads `<dir>/<bench>_before.json` and `<dir>/<bench>_after.json` (written by running each benchmark
on the old and the new checkout, alternately, on one machine), and repeats of them
(`<bench>_before_2.json`, ...), and prints one table per benchmark with the median of each figure
over the repeats and the ratio of the medians after/before. docs/benchmarks.md quotes this output.

    .venv/bin/python bench/before_after.py bench/results/issue20
"""

from __future__ import annotations

import json
import statistics
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


def _runs(folder: Path, bench: str, side: str) -> list[dict[str, Any]]:
    paths = [folder / f"{bench}_{side}.json", *sorted(folder.glob(f"{bench}_{side}_*.json"))]
    return [json.loads(p.read_text()) for p in paths if p.exists()]


def _medians(bench: str, runs: list[dict[str, Any]]) -> dict[str, float]:
    rows = [_rows(bench, r) for r in runs]
    return {label: statistics.median(r[label] for r in rows if label in r) for label in rows[0]}


def table(folder: Path, bench: str) -> str:
    befores, afters = _runs(folder, bench, "before"), _runs(folder, bench, "after")
    before, after = befores[0], afters[-1]
    b, a = _medians(bench, befores), _medians(bench, afters)
    repeats = f"; medians of {len(befores)} and {len(afters)} runs, alternating" if len(befores) > 1 else ""
    lines = [
        f"`{bench}` (before {before['machine']['date']}, after {after['machine']['date']}, "
        f"{after['machine']['cpu']}, {after['machine']['cores']} cores{repeats})",
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
