"""The journal's JSON codec: one for entry payloads, state values and stored alerts.

Non-finite numbers
    Payloads hold ``inf`` (e.g. the distance to a liquidation price that does not exist) and
    sometimes ``nan``. The stored text is strict JSON, so SQLite's JSON functions, ``jq`` and
    spreadsheets can read it: ``inf``, ``-inf`` and ``nan`` are written as the strings ``"inf"``,
    ``"-inf"`` and ``"nan"``. A genuine string that would read back as one of those (``"inf"``,
    or ``"'inf"``, ...: any number of ``'`` before a token) is written with one more leading
    ``'``. Reading undoes both, so every JSON-ready value round-trips exactly. JSON-ready means:
    dicts with ``str`` keys, lists and tuples (read back as lists), ``str``, ``int``, ``float``,
    ``bool`` and ``None``; anything else raises ``TypeError`` naming where it is, before the
    database is touched.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Final

_NON_FINITE: Final = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}
_ESCAPE: Final = "'"


def encode_json(value: Any, where: str = "payload") -> str:
    """``value`` as compact strict JSON, non-finite floats as tokens (see the module docstring)."""
    return json.dumps(
        _to_json(value, where), ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )


def decode_json(text: str) -> Any:
    """The value :func:`encode_json` wrote."""
    return _from_json(json.loads(text))


def _to_json(value: Any, where: str) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = str.__str__(value)  # a str enum's value, not its name
        return _ESCAPE + text if text.lstrip(_ESCAPE) in _NON_FINITE else text
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return float(value)
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where}: key {key!r} is not a string; the journal stores JSON")
            out[str(key)] = _to_json(item, f"{where}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [_to_json(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise TypeError(
        f"{where}: {type(value).__name__} is not JSON-ready (dict, list, str, int, float, bool, "
        "None); convert it before journalling"
    )


def _from_json(value: Any) -> Any:
    if isinstance(value, str):
        if value in _NON_FINITE:
            return _NON_FINITE[value]
        if value.startswith(_ESCAPE) and value.lstrip(_ESCAPE) in _NON_FINITE:
            return value[1:]
        return value
    if isinstance(value, dict):
        return {key: _from_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_from_json(item) for item in value]
    return value
