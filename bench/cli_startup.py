"""How long the command line takes to start, against ``python -c pass`` in the same run.

Each command is run ``--runs`` times as a fresh process (the way a user or cron runs it); the
median and the fastest wall time are printed, with what each imports beyond the interpreter
(``-X importtime``'s cumulative total for the ``riskguard`` package tree). Figures, never a PASS.

Run: .venv/bin/python bench/cli_startup.py [--runs 7] [--out FILE]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(argv: list[str], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, capture_output=True, check=False)  # noqa: S603 - our argv
        times.append(time.perf_counter() - started)
    return statistics.median(times), min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    python = sys.executable
    cli = [python, "-m", "riskguard"]
    snapshot = next(iter(sorted((ROOT / "examples" / "snapshots").glob("*.json"))))
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "empty.sqlite3"
        cases = [
            ("python -c pass (reference)", [python, "-c", "pass"]),
            ("riskguard --help", [*cli, "--help"]),
            ("riskguard replay --help", [*cli, "replay", "--help"]),
            (
                "riskguard validate config/guard-paper.yaml",
                [*cli, "validate", "config/guard-paper.yaml"],
            ),
            (f"riskguard calc examples/snapshots/{snapshot.name}", [*cli, "calc", str(snapshot)]),
            ("riskguard journal --db (empty)", [*cli, "journal", "--db", str(db)]),
        ]
        lines = [
            f"# CLI start-up, {args.runs} runs each (python {platform.python_version()}, "
            f"{platform.machine()})",
            "",
            "| command | median s | fastest s |",
            "|---|---|---|",
        ]
        for label, command in cases:
            median, fastest = timed(command, args.runs)
            lines.append(f"| {label} | {median:.3f} | {fastest:.3f} |")
            print(lines[-1], flush=True)
    if args.out is not None:
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
