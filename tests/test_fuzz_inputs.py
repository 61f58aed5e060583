"""Fuzzing the inputs of ``calc`` and the config loader: any document gives a result or a clean
one-line refusal, never a traceback, an undocumented exit code, or ``Infinity``/``NaN`` in JSON.

Bounded here (a few hundred examples per property, seconds); ``bench/fuzz_inputs.py`` runs ten
thousand and prints the counts.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from tests.fuzzing import calc_defects, calc_inputs, config_defects, config_texts


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )


@_settings(300)
@given(calc_inputs())
def test_calc_answers_any_json_with_a_result_or_one_line(text: str) -> None:
    assert calc_defects(text) == []


@_settings(200)
@given(config_texts())
def test_validate_answers_any_yaml_with_a_result_or_one_line_per_problem(text: str) -> None:
    assert config_defects(text) == []


@_settings(40)
@given(config_texts())
def test_a_paper_config_validate_accepts_runs_a_check_cycle(text: str) -> None:
    assert config_defects(text, check=True) == []
