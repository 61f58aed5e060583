"""Run ``riskguard`` as a user would, with ccxt told that 127.0.0.1 is Binance's futures host.

ccxt 4.5.90 picks part of Binance's error-code table by URL prefix (linear codes such as -2019,
-2021, -2022 and -4116 only for ``https://fapi.binance.com/``), so against the fake server on
``http://127.0.0.1:N`` those codes would arrive as plain ``ExchangeError``. This launcher looks a
loopback URL up as the same path on the real host, exactly as
:func:`tests.fakes.binance_usdm.point_client_at` does for one client, and then hands over to the
real command line: ``python -m tests.chaos.daemon_main run CONFIG``. Nothing else is changed.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from ccxt.async_support.binance import binance

from riskguard.cli.main import main
from tests.fakes.binance_usdm import BINANCE_FAPI_HOST

_LOOPBACK = re.compile(r"^http://127\.0\.0\.1:\d+(?=/)")
_original = binance.get_exceptions_by_url


def _as_binance(self: Any, url: str | None, exact_or_broad: str) -> Any:
    if url is not None:
        url = _LOOPBACK.sub(BINANCE_FAPI_HOST, url)
    return _original(self, url, exact_or_broad)


binance.get_exceptions_by_url = _as_binance  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
