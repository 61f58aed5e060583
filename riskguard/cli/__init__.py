"""The command line: argument parsing, the commands, and what they print.

Owns ``riskguard`` (:mod:`~riskguard.cli.main`: argparse and dispatch), ``run`` and ``check``
(:mod:`~riskguard.cli.run`, :mod:`~riskguard.cli.check`, :mod:`~riskguard.cli.console`),
``calc``'s JSON input and its output (:mod:`~riskguard.cli.calc_input`,
:mod:`~riskguard.cli.calc_report`) and ``journal``'s export
(:mod:`~riskguard.cli.journal_export`). The top of the house: it may import every other package,
and nothing imports it but ``python -m riskguard``.
"""
