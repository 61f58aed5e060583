"""Fuzz the command line's inputs at length: 10,000 hostile documents by default.

Half are ``calc`` inputs (random JSON, mutated valid snapshots, mangled text, deep nesting), run
through ``riskguard calc - --json`` and the table; half are config files (random YAML, mutated
``config/*.yaml`` and the test kit's paper config, mangled text, deep nesting), run through
``riskguard validate``, and, when validate accepts a paper-only config, ``riskguard check
--json`` (a config validate accepts must run its first cycle). The strategies and the harness are
``tests/fuzzing.py``, the same as the bounded properties of ``tests/test_fuzz_inputs.py``.

Prints, per target and in total: ``N inputs: T tracebacks, I Infinity/NaN outputs`` (a
traceback also counts an undocumented exit code), then other defects (a refusal on several lines
or without the file's name) and the first examples of each.

Run: .venv/bin/python bench/fuzz_inputs.py [--examples 10000] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fuzzing import (
    calc_defects,
    calc_inputs,
    config_defects,
    config_texts,
    is_non_finite,
    is_traceback,
)


class Tally:
    """Counts of inputs and of each kind of defect, with the first examples."""

    def __init__(self) -> None:
        self.inputs = 0
        self.tracebacks = 0
        self.non_finite = 0
        self.other: Counter[str] = Counter()
        self.examples: dict[str, str] = {}
        self.full: dict[str, str] = {}
        """The whole input of the first example of each defect (``--save``)."""

    def add(self, text: str, problems: list[str]) -> None:
        self.inputs += 1
        self.tracebacks += any(is_traceback(p) for p in problems)
        self.non_finite += any(is_non_finite(p) for p in problems)
        for problem in problems:
            kind = problem[:100]
            if not (is_traceback(problem) or is_non_finite(problem)):
                self.other[kind] += 1
            self.examples.setdefault(kind, text[:300])
            self.full.setdefault(kind, text)

    def line(self) -> str:
        return (
            f"{self.inputs} inputs: {self.tracebacks} tracebacks, "
            f"{self.non_finite} Infinity/NaN outputs"
        )


def fuzz(
    name: str,
    strategy: st.SearchStrategy[str],
    judge: Callable[[str], list[str]],
    examples: int,
    seed_value: int,
) -> Tally:
    tally = Tally()

    @seed(seed_value)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def run(text: str) -> None:
        tally.add(text, judge(text))

    started = time.perf_counter()
    run()
    print(f"{name}: {tally.line()} ({time.perf_counter() - started:.0f} s)", flush=True)
    return tally


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000, help="inputs in total")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=("calc", "config"), help="fuzz one entry point only")
    parser.add_argument("--save", help="write each defect's whole first input to this file")
    args = parser.parse_args()
    half = args.examples // 2
    tallies = []
    if args.only != "config":
        count = args.examples if args.only else args.examples - half
        tallies.append(fuzz("calc", calc_inputs(), calc_defects, count, args.seed))
    if args.only != "calc":
        count = args.examples if args.only else half
        tallies.append(
            fuzz(
                "config",
                config_texts(),
                lambda text: config_defects(text, check=True),
                count,
                args.seed,
            )
        )
    total = Tally()
    for tally in tallies:
        total.inputs += tally.inputs
        total.tracebacks += tally.tracebacks
        total.non_finite += tally.non_finite
        total.other.update(tally.other)
        for kind, text in tally.examples.items():
            total.examples.setdefault(kind, text)
        for kind, text in tally.full.items():
            total.full.setdefault(kind, text)
    print(total.line())
    for kind, count in total.other.most_common():
        print(f"  {count} x {kind}")
    for kind, text in list(total.examples.items())[:20]:
        print(f"- {kind}\n  input: {text!r}")
    if args.save:
        with open(args.save, "w", encoding="utf-8") as out:
            for kind, text in total.full.items():
                out.write(f"=== {kind}\n{text}\n")
    return 0 if total.tracebacks == 0 and total.non_finite == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
