"""Guard rules: pure functions from an account's snapshot, risk figures and the time to findings
and proposed actions. See :mod:`riskguard.guard.rules.base` for the shared vocabulary."""
