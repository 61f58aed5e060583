"""The ``harness`` fixture: every contract test runs once per entry of ``HARNESSES``.

Two marks steer it, per harness:

- ``@pytest.mark.requires(capability, ...)``: skip, with the reason, on a harness that does not
  declare every capability named (``Capability`` in ``harness.py``);
- ``@pytest.mark.known_bug(harness_id, ..., reason="paper bug: ...")``: a strict xfail on the
  harnesses named only, so the same test still has to pass on every other harness, and starts
  failing (XPASS) on the named ones as soon as the bug is fixed.
"""

from __future__ import annotations

import pytest

from tests.contract.harness import HARNESSES, Capability, ContractHarness


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "requires(*capabilities): contract test needing harness capabilities "
        "(tests/contract/harness.py Capability); skipped on harnesses without them",
    )
    config.addinivalue_line(
        "markers",
        "known_bug(*harness_ids, reason): strict xfail of a contract test on those harnesses only",
    )


@pytest.fixture(params=list(HARNESSES), ids=list(HARNESSES))
def harness(request: pytest.FixtureRequest) -> ContractHarness:
    """A fresh harness, not yet started: the test starts and closes it in its own event loop."""
    for marker in request.node.iter_markers("known_bug"):
        unknown = set(marker.args) - set(HARNESSES)
        if unknown or "reason" not in marker.kwargs:
            raise pytest.UsageError(f"known_bug{marker.args}: unknown harness or no reason")
        if request.param in marker.args:
            request.applymarker(pytest.mark.xfail(strict=True, reason=marker.kwargs["reason"]))
    needed: set[Capability] = set()
    for marker in request.node.iter_markers("requires"):
        needed.update(Capability(name) for name in marker.args)
    made = HARNESSES[request.param]()
    missing = sorted(needed - made.capabilities)
    if missing:
        pytest.skip(f"{made.name} lacks capability {', '.join(missing)}")
    return made
