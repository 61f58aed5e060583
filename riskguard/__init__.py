"""riskguard: an independent guard against liquidation and negative equity on leveraged accounts.

The public API is what this module and :mod:`riskguard.risk` export, the packages' documented
entry points (:mod:`riskguard.guard`, :mod:`riskguard.paper`, :mod:`riskguard.replay`) and
:mod:`riskguard.testing`; everything else may change.

Module paths that moved when the packages were re-laid (``riskguard.rules``,
``riskguard.enforce``, ``riskguard.planner``, ``riskguard.pretrade``, now under
:mod:`riskguard.guard`) still import, with a ``DeprecationWarning``, until the next release.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from collections.abc import Sequence

from riskguard.domain import AccountSnapshot, MarginMode, Position, Side, Tier, TierUnit
from riskguard.errors import ConfigError, InputError, RiskguardError, UnsupportedError

__version__ = "0.1.0"

MOVED_MODULES = {
    "riskguard.rules": "riskguard.guard.rules",
    "riskguard.enforce": "riskguard.guard.enforce",
    "riskguard.planner": "riskguard.guard.planner",
    "riskguard.pretrade": "riskguard.guard.pretrade",
}
"""Old module path -> new one, for one release; submodules of an old path follow it."""


def _moved_to(name: str) -> str | None:
    for old, new in MOVED_MODULES.items():
        if name == old or name.startswith(old + "."):
            return new + name[len(old) :]
    return None


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old path as the very module object of its new path (one class, one state)."""

    def __init__(self) -> None:
        self._own_specs: dict[str, importlib.machinery.ModuleSpec | None] = {}

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,  # noqa: ARG002 (the finder protocol's signature)
        target: types.ModuleType | None = None,  # noqa: ARG002
    ) -> importlib.machinery.ModuleSpec | None:
        if _moved_to(fullname) is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        new = _moved_to(spec.name)
        if new is None:  # find_spec answers only for moved names
            raise ImportError(f"{spec.name} is not a moved riskguard module", name=spec.name)
        warnings.warn(
            f"{spec.name} moved to {new}; the old path goes in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        module = importlib.import_module(new)
        self._own_specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        # the import system stamped the old path's spec on the module: give it its own back
        old = module.__spec__.name if module.__spec__ is not None else ""
        module.__spec__ = self._own_specs.pop(old, module.__spec__)


if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
    sys.meta_path.insert(0, _MovedModules())

__all__ = [
    "MOVED_MODULES",
    "AccountSnapshot",
    "ConfigError",
    "InputError",
    "MarginMode",
    "Position",
    "RiskguardError",
    "Side",
    "Tier",
    "TierUnit",
    "UnsupportedError",
    "__version__",
]
