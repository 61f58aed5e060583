"""Against a real account (skipped unless ``RISKGUARD_LIVE=1``): a read-only check.

Set ``RISKGUARD_LIVE_CONFIG`` to a config whose accounts name their keys by environment variable
(see ``config/live-example.yaml``); use a testnet or demo account, or a read-only key. The check
never sends an order: every account runs alert-only on a memory journal.
"""

from __future__ import annotations

import json
import os

import pytest

from riskguard.cli.main import main


@pytest.mark.live
def test_check_reads_every_account_of_a_real_config(capsys: pytest.CaptureFixture[str]) -> None:
    config = os.environ.get("RISKGUARD_LIVE_CONFIG")
    if not config:
        pytest.skip("set RISKGUARD_LIVE_CONFIG to a live config file")

    code = main(["check", config, "--json"])

    document = json.loads(capsys.readouterr().out)
    assert code in (0, 1, 2)
    assert document["accounts"]
    for account in document["accounts"]:
        assert account["actionable"], f"{account['account']}: {account['error']}"
        assert account["equity"] is not None
