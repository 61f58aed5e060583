"""Sink configuration: secrets only by environment variable name, clear one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
import yaml

from riskguard.alerts.config import SlackSinkConfig, TelegramSinkConfig, WebhookSinkConfig
from riskguard.alerts.factory import build_sinks
from riskguard.cli.main import main
from riskguard.config import problems
from riskguard.errors import ConfigError
from riskguard.observability.logs import redact

SLACK_URL = "https://hooks.slack.com/services/T000/B000/SLACKSECRET123456"
TG_TOKEN = "123456:TELEGRAMSECRETTOKEN"


def _document(alerts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"accounts": [{"id": "main", "exchange": "binanceusdm"}], "alerts": alerts}


def test_an_inline_secret_is_refused_with_a_pointer_to_the_env_field() -> None:
    found = problems(_document([{"type": "slack", "url": SLACK_URL}]))

    assert found[0] == (
        "alerts[0].url: secrets never go in the config file; put the value in an environment "
        "variable and name it with url_env"
    )
    assert all(SLACK_URL not in line for line in found)


def test_each_sink_problem_is_named_by_its_path() -> None:
    found = problems(
        _document(
            [
                {"type": "slack", "url_env": "OK_NAME", "min_severity": "loud"},
                {"type": "telegram", "token_env": "TG"},
                {"type": "email", "host": "h", "from_address": "x", "to": []},
            ]
        )
    )
    duplicates = problems(
        _document([{"type": "webhook", "url_env": "A"}, {"type": "webhook", "url_env": "B"}])
    )

    text = "\n".join(found)
    assert "alerts[0].min_severity: Input should be 'info', 'warning' or 'critical'" in text
    assert "alerts[1].chat_id: Field required" in text
    assert "alerts[2].from_address: String should match pattern" in text
    assert "alerts[2].to: Tuple should have at least 1 item" in text
    assert duplicates == [
        "alerts: sink names must be unique; repeated: webhook (give each a name:)"
    ]


def test_a_missing_or_empty_variable_is_a_one_line_error_naming_it(tmp_path: Path) -> None:
    config = SlackSinkConfig(url_env="RG_SLACK")

    with pytest.raises(
        ConfigError, match=r"^alerts\[0\]\.url_env: environment variable RG_SLACK is not set$"
    ):
        build_sinks([config], {}, httpx.AsyncClient(), tmp_path)
    with pytest.raises(ConfigError, match="RG_SLACK is empty"):
        build_sinks([config], {"RG_SLACK": " "}, httpx.AsyncClient(), tmp_path)


def test_a_variable_that_is_not_a_url_is_refused_without_printing_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        build_sinks(
            [WebhookSinkConfig(url_env="HOOK")],
            {"HOOK": "not-a-url-SECRET"},
            httpx.AsyncClient(),
            tmp_path,
        )

    assert "does not hold an http(s) URL" in str(caught.value)
    assert "SECRET" not in str(caught.value)


def test_secrets_read_for_sinks_are_registered_for_redaction_and_absent_from_reprs(
    tmp_path: Path,
) -> None:
    sinks = build_sinks(
        [SlackSinkConfig(url_env="RG_SLACK"), TelegramSinkConfig(token_env="RG_TG", chat_id="42")],
        {"RG_SLACK": SLACK_URL, "RG_TG": TG_TOKEN},
        httpx.AsyncClient(),
        tmp_path,
    )

    assert [s.name for s, _ in sinks] == ["slack", "telegram"]
    assert all(SLACK_URL not in repr(s) and TG_TOKEN not in repr(s) for s, _ in sinks)
    assert SLACK_URL not in redact(f"posting to {SLACK_URL}")
    assert TG_TOKEN not in redact(f"https://api.telegram.org/bot{TG_TOKEN}/sendMessage")


def _config_file(tmp_path: Path, alerts: list[dict[str, Any]]) -> Path:
    document = {
        "accounts": [{"id": "main", "exchange": "binanceusdm"}],
        "journal": {"path": str(tmp_path / "j.sqlite3")},
        "alerts": alerts,
    }
    path = tmp_path / "riskguard.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


@respx.mock
def test_alert_test_sends_through_every_sink_and_reports_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RG_SLACK", SLACK_URL)
    monkeypatch.setenv("RG_TG", TG_TOKEN)
    slack = respx.post(SLACK_URL).mock(return_value=httpx.Response(200, text="ok"))
    telegram = respx.post(f"https://api.telegram.org/bot{TG_TOKEN}/sendMessage").mock(
        return_value=httpx.Response(
            401, json={"ok": False, "error_code": 401, "description": "Unauthorized"}
        )
    )
    path = _config_file(
        tmp_path,
        [
            {"type": "slack", "url_env": "RG_SLACK", "min_severity": "critical"},
            {"type": "telegram", "token_env": "RG_TG", "chat_id": "42", "accounts": ["other"]},
        ],
    )

    code = main(["alert-test", str(path), "--json"])

    out = capsys.readouterr().out
    results = json.loads(out)["results"]
    assert code == 1
    assert [(r["sink"], r["delivered"]) for r in results] == [("slack", True), ("telegram", False)]
    assert results[1]["detail"].startswith("permanent: ")
    assert "401" in results[1]["detail"]
    assert slack.call_count == 1
    assert telegram.call_count == 1
    body = json.loads(slack.calls[0].request.content)
    assert "test alert" in body["text"]
    assert TG_TOKEN not in out
    assert SLACK_URL not in out


@respx.mock
def test_alert_test_exits_0_when_every_sink_delivered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RG_SLACK", SLACK_URL)
    respx.post(SLACK_URL).mock(return_value=httpx.Response(200, text="ok"))
    path = _config_file(tmp_path, [{"type": "slack", "url_env": "RG_SLACK"}])

    code = main(["alert-test", str(path)])

    assert code == 0
    assert "ok" in capsys.readouterr().out


def test_alert_test_with_a_missing_variable_exits_2_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("RG_SLACK", raising=False)
    path = _config_file(tmp_path, [{"type": "slack", "url_env": "RG_SLACK"}])

    code = main(["alert-test", str(path)])

    err = capsys.readouterr().err
    assert code == 2
    assert (
        err == "riskguard alert-test: alerts[0].url_env: environment variable RG_SLACK is not set\n"
    )


def test_alert_test_without_sinks_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config_file(tmp_path, [])

    assert main(["alert-test", str(path)]) == 2
    assert "no sinks configured" in capsys.readouterr().err


def test_an_email_ca_file_is_read_relative_to_the_config_and_must_exist(tmp_path: Path) -> None:
    import trustme

    from riskguard.alerts.config import EmailSinkConfig

    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "private-ca.pem"))
    config = EmailSinkConfig(
        host="smtp.example.com",
        from_address="guard@example.com",
        to=("ops@example.com",),
        username="guard@example.com",
        password_env="RG_SMTP",
        ca_file="private-ca.pem",
    )

    ((sink, _),) = build_sinks([config], {"RG_SMTP": "smtp-pass-123"}, None, tmp_path)
    with pytest.raises(ConfigError, match=r"^alerts\[0\]\.ca_file: no such file .*missing\.pem$"):
        build_sinks(
            [config.model_copy(update={"ca_file": "missing.pem"})],
            {"RG_SMTP": "smtp-pass-123"},
            None,
            tmp_path,
        )

    assert sink.name == "email"
    assert "smtp-pass-123" not in repr(sink)
