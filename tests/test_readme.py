"""The README's Python example runs and prints what it says it prints."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_prints_the_worked_liquidation_price(tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"```python\n(.*?)```", text, re.DOTALL)
    assert match is not None
    script = tmp_path / "example.py"
    script.write_text(match.group(1), encoding="utf-8")

    run = subprocess.run(  # noqa: S603
        [sys.executable, str(script)], capture_output=True, text=True, check=False, timeout=60
    )

    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert abs(float(lines[0]) - 90402.01) < 0.01
    assert float(lines[1]) == 90000.0


def test_readme_opens_with_demo_and_test_commands() -> None:
    text = README.read_text(encoding="utf-8")
    first_block = re.search(r"```sh\n(.*?)```", text, re.DOTALL)

    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands[:2] == ["make demo", "make test"]
    assert text.index("```sh") < text.index("riskguard is")


def test_readme_testing_kit_example_prints_what_its_comments_say(tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Testing your own code", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None
    script = tmp_path / "testing_kit.py"
    script.write_text(match.group(1), encoding="utf-8")

    run = subprocess.run(  # noqa: S603
        [sys.executable, "-W", "error", str(script)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert run.returncode == 0, run.stderr
    liquidation, contracts = run.stdout.splitlines()
    assert liquidation.startswith("95477.38")
    assert float(contracts) == 0.2
