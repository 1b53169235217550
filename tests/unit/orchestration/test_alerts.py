"""The failure alert (python_tasks.orchestration.alerts): what it says, where it goes, that it never raises.

The webhook and the email go to real local servers (``http.server`` and a minimal SMTP server on
127.0.0.1, ephemeral ports); the last test runs a tiny real DAG with ``dag.test()`` in a separate Python
process with its own throw-away AIRFLOW_HOME, so that this module never imports Airflow itself.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import os
import socket
import socketserver
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from python_tasks.orchestration.alerts import (
    AlertChannels,
    FailedCheck,
    GateResults,
    alert_file_name,
    compose_alert,
    deliver,
    gate_of,
    on_task_failure,
    read_gate_results,
)
from python_tasks.quality.results import GateFailed

PROJECT_ROOT = Path(__file__).resolve().parents[3]
DAY = "2026-11-21"
RUN_ID = "scheduled__2026-11-21T22:00:00+00:00"
CHANNEL_VARIABLES = (
    "CLV_ALERT_WEBHOOK_URL", "CLV_ALERT_WEBHOOK_TOKEN", "CLV_ALERT_EMAIL_TO", "CLV_ALERT_EMAIL_FROM",
    "CLV_SMTP_HOST", "CLV_SMTP_PORT", "CLV_SMTP_USER", "CLV_SMTP_PASSWORD", "CLV_SMTP_STARTTLS",
    "CLV_ALERT_TIMEOUT_S",
)  # fmt: skip
GATE_MESSAGE = (
    "clv gate failed for 2026-11-21 (2 error-level checks):\n"
    "clv.client_values: expect_column_values_to_not_be_null(clv_cny) unexpected 3 of 120 e.g. [None]"
    " — 每个客户每个情景都有价值\n"
    "clv.client_values: expect_column_pair_values_to_be_unique(client_id) unexpected 2 of 120"
)


@pytest.fixture(autouse=True)
def no_channels(monkeypatch, tmp_path):
    """Nothing of the developer's environment: no channel switched on, no proxy, a temporary CLV_HOME."""
    for key in (*CHANNEL_VARIABLES, "CLV_INBOX_DIR", "CLV_LANDING_DIR", "CLV_WAREHOUSE_PATH"):
        monkeypatch.delenv(key, raising=False)
    for key in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("CLV_HOME", str(tmp_path / "clv_home"))
    return tmp_path / "clv_home"


def gate_results() -> GateResults:
    return GateResults(
        gate="clv",
        evaluated=14,
        error_count=2,
        warn_count=1,
        errors=(
            FailedCheck("clv.client_values", "expect_column_values_to_not_be_null", "clv_cny",
                        unexpected_count=3, element_count=120, unexpected_sample=[None]),
            FailedCheck("clv.client_values", "expect_column_pair_values_to_be_unique", "client_id",
                        unexpected_count=2, element_count=120),
        ),
    )  # fmt: skip


def gate_alert(**overrides):
    facts = dict(
        dag_id="clv_daily", task_id="clv_gate", run_id=RUN_ID, business_date=DAY, try_number=1, max_tries=0,
        exception_type="GateFailed", exception_message=GATE_MESSAGE, gate="clv", gate_results=gate_results(),
        log_url="http://localhost:8080/dags/clv_daily/runs/x/tasks/clv_gate?try_number=1",
    )  # fmt: skip
    return compose_alert(**{**facts, **overrides})


# ------------------------------------------------------------------------------------------ compose


def test_a_failed_gate_alert_names_the_gate_the_date_and_each_failed_check():
    alert = gate_alert()

    assert alert.subject == "[CLV] clv_daily 2026-11-21: clv_gate failed — 2 error-level checks"
    assert "Gate:  clv" in alert.text
    assert "Checks: 14 evaluated, 2 error-level failed" in alert.text
    assert "Warn:  1 warn-level check failed (recorded only" in alert.text
    assert "  - clv.client_values: expect_column_values_to_not_be_null(clv_cny) unexpected 3 of 120 e.g. [None]" in (
        alert.text
    )
    assert "  - clv.client_values: expect_column_pair_values_to_be_unique(client_id) unexpected 2 of 120" in alert.text
    assert "每个客户每个情景都有价值" in alert.text  # the gate's own message, with its reasons, is kept whole
    assert f"run_id = '{RUN_ID}' AND as_of_date = DATE '2026-11-21' AND gate = 'clv'" in alert.text
    assert "try_number=1" in alert.text
    p = alert.payload
    assert (p["dag_id"], p["task_id"], p["run_id"], p["business_date"], p["gate"]) == (
        "clv_daily", "clv_gate", RUN_ID, DAY, "clv",
    )  # fmt: skip
    assert (p["error_check_count"], p["warn_check_count"], p["checks_evaluated"]) == (2, 1, 14)
    assert [c["column_name"] for c in p["failed_checks"]] == ["clv_cny", "client_id"]
    assert p["exception_type"] == "GateFailed" and p["exception_message"] == GATE_MESSAGE
    assert p["subject"] == alert.subject and p["text"] == alert.text
    assert alert.file_name == "2026-11-21_scheduled__2026-11-21T22_00_00_00_00_clv_gate.json"
    json.loads(alert.to_json())


def test_a_non_gate_failure_names_the_task_and_the_exception():
    alert = compose_alert(
        dag_id="clv_daily", task_id="dbt_build", run_id=RUN_ID, business_date=DAY, try_number=1, max_tries=2,
        exception_type="DbtBuildFailed",
        exception_message="dbt build --selector daily_build failed for 2026-11-21:\ntest unique_dim_client fail",
    )  # fmt: skip

    assert alert.subject == "[CLV] clv_daily 2026-11-21: dbt_build failed — DbtBuildFailed"
    assert "(try 1 of 3)" in alert.text
    assert "test unique_dim_client fail" in alert.text
    assert "Gate:" not in alert.text and "audit.dq_results" not in alert.text
    assert alert.payload["gate"] is None and alert.payload["failed_checks"] == []
    assert alert.payload["error_check_count"] is None


def test_a_delivery_error_alert_names_its_rule():
    alert = compose_alert(
        dag_id="clv_daily", task_id="ingest.facilities", run_id=RUN_ID, business_date=DAY, try_number=1,
        exception_type="DeliveryError", exception_message="inbox/facilities_20261121.csv: wrong header [rule file:header]",
        rule="file:header",
    )  # fmt: skip
    assert alert.subject == "[CLV] clv_daily 2026-11-21: ingest.facilities failed — DeliveryError [rule file:header]"
    assert alert.payload["rule"] == "file:header"
    assert alert.file_name.endswith("_ingest.facilities.json")


def test_a_failure_without_an_exception_says_so():
    """A task killed or lost (heartbeat timeout) has its callback run by the DAG processor, without exception."""
    alert = compose_alert(
        dag_id="clv_daily", task_id="clv", run_id=RUN_ID, business_date=DAY, try_number=3,
        exception_type=None, exception_message=None,
    )  # fmt: skip
    assert alert.subject == "[CLV] clv_daily 2026-11-21: clv failed — no exception reported"
    assert "The task reported no exception" in alert.text


def test_unreadable_results_are_said_and_the_count_comes_from_the_gate_message():
    alert = gate_alert(gate_results=GateResults(gate="clv", unavailable="FileNotFoundError: no warehouse"))

    assert alert.subject.endswith("clv_gate failed — 2 error-level checks")
    assert "audit.dq_results could not be read (FileNotFoundError: no warehouse)" in alert.text
    assert alert.payload["results_unavailable"] == "FileNotFoundError: no warehouse"
    assert alert.payload["warn_check_count"] is None


def test_a_gate_that_broke_down_is_not_reported_as_failed_checks():
    """A gate task can fail without a failed check (a locked warehouse, a GX error): say what happened."""
    alert = gate_alert(
        exception_type="IOException", exception_message="Could not set lock on file",
        gate_results=GateResults(gate="clv", evaluated=0),
    )  # fmt: skip
    assert alert.subject.endswith("clv_gate failed — IOException")
    assert "No failed error-level check is recorded for this run and date" in alert.text


def test_gate_of_reads_the_gate_message_then_the_task_id():
    assert gate_of("clv_gate", "GateFailed", GATE_MESSAGE) == "clv"
    assert gate_of("some_task", "GateFailed", "raw gate failed for 2026-11-21 (1 error-level checks):\n…") == "raw"
    assert gate_of("freshness_gate", "RuntimeError", "boom") == "freshness"
    assert gate_of("dbt_build", "DbtBuildFailed", "…") is None
    assert gate_of("ingest.clients", "DeliveryError", "…") is None
    assert gate_of("_gate", None, None) is None


def test_alert_file_names_are_safe():
    assert alert_file_name(DAY, "manual__2026-11-21T10:00:00+00:00", "ingest.clients") == (
        "2026-11-21_manual__2026-11-21T10_00_00_00_00_ingest.clients.json"
    )
    assert alert_file_name(None, "../../etc/passwd", "t") == "unknown-date_etc_passwd_t.json"


# ---------------------------------------------------------------------------------------- warehouse


def record_clv_gate(warehouse_path: Path, run_id: str = RUN_ID) -> None:
    """Two error-level failures, one warn-level failure and a pass of the clv gate, as the gate records them."""
    from python_tasks.quality.results import Outcome, record_outcomes
    from python_tasks.quality.suites import Expectation

    def outcome(kind: str, column: str, *, success: bool, severity: str = "error", unexpected: int = 0):
        expectation = Expectation(kind, {"column": column}, severity=severity)
        return Outcome(expectation, success, 120, unexpected, unexpected / 1.2, None, [None] * min(unexpected, 1), None)

    record_outcomes(warehouse_path, "clv", date.fromisoformat(DAY), run_id, {"clv.client_values": [
        outcome("expect_column_values_to_not_be_null", "clv_cny", success=False, unexpected=3),
        outcome("expect_column_values_to_not_be_null", "pd_pit", success=False, unexpected=2),
        outcome("expect_column_values_to_be_between", "raroc", success=False, severity="warn", unexpected=7),
        outcome("expect_column_values_to_not_be_null", "client_id", success=True),
    ]})  # fmt: skip
    # another run of the same date and another gate must not leak into the alert
    record_outcomes(warehouse_path, "clv", date.fromisoformat(DAY), "manual__earlier", {"clv.client_values": [
        outcome("expect_column_values_to_not_be_null", "ead_cny", success=False, unexpected=1),
    ]})  # fmt: skip
    record_outcomes(warehouse_path, "profile", date.fromisoformat(DAY), run_id, {"profile": [
        outcome("expect_column_values_to_not_be_null", "industry_code", success=False, unexpected=1),
    ]})  # fmt: skip


def test_read_gate_results_returns_this_runs_failed_error_checks_of_the_gate(tmp_path):
    warehouse_path = tmp_path / "warehouse" / "clv.duckdb"
    record_clv_gate(warehouse_path)

    results = read_gate_results(warehouse_path, gate="clv", run_id=RUN_ID, business_date=DAY)

    assert results.unavailable is None
    assert (results.evaluated, results.error_count, results.warn_count) == (4, 2, 1)
    assert [(c.column_name, c.unexpected_count, c.unexpected_sample) for c in results.errors] == [
        ("clv_cny", 3, [None]), ("pd_pit", 2, [None]),
    ]  # fmt: skip
    alert = gate_alert(gate_results=results)
    assert "expect_column_values_to_not_be_null(clv_cny) unexpected 3 of 120" in alert.text
    assert "ead_cny" not in alert.text and "industry_code" not in alert.text


def test_read_gate_results_tolerates_a_missing_warehouse_and_a_missing_table(tmp_path):
    import duckdb

    missing = read_gate_results(tmp_path / "nowhere.duckdb", gate="clv", run_id=RUN_ID, business_date=DAY)
    assert missing.unavailable is not None and "FileNotFoundError" in missing.unavailable

    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    no_table = read_gate_results(empty, gate="clv", run_id=RUN_ID, business_date=DAY)
    assert no_table.unavailable is not None and "dq_results" in no_table.unavailable


# ------------------------------------------------------------------------------------------ deliver


class _Recorder(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's name
        length = int(self.headers["Content-Length"])
        self.server.requests.append((self.path, dict(self.headers), self.rfile.read(length)))
        self.send_response(self.server.status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    """A local HTTP server recording every POST; ``status`` is what it answers."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.requests, server.status = [], 204
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


class _SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: greeting, EHLO, MAIL, RCPT, DATA, QUIT."""

    def reply(self, text: str) -> None:
        self.wfile.write(text.encode("ascii") + b"\r\n")

    def handle(self):
        self.reply("220 fake.smtp ESMTP ready")
        sender, recipients = None, []
        while line := self.rfile.readline():
            command = line.decode("ascii", "replace").strip()
            verb = command.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.reply("250-fake.smtp")
                self.reply("250 8BITMIME")
            elif verb == "MAIL":
                sender = command.split(":", 1)[1].strip()
                self.reply("250 OK")
            elif verb == "RCPT":
                recipients.append(command.split(":", 1)[1].strip().strip("<>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                data = bytearray()
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk[1:] if chunk.startswith(b"..") else chunk
                self.server.messages.append((sender, recipients, bytes(data)))
                self.reply("250 OK queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 OK")


@pytest.fixture
def smtp_server():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SMTPHandler)
    server.daemon_threads = True
    server.messages = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def refused_url() -> str:
    """A local port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook/secret-token-in-path"


def test_without_any_channel_configured_the_alert_is_only_logged_and_written(tmp_path, caplog):
    alert = gate_alert()
    with caplog.at_level(logging.ERROR, logger="python_tasks.orchestration.alerts"):
        outcomes = deliver(alert, alerts_dir=tmp_path / "alerts")

    assert set(outcomes) == {"log", "file"}
    written = tmp_path / "alerts" / alert.file_name
    assert outcomes["file"] == f"written {written}"
    assert json.loads(written.read_text(encoding="utf-8")) == alert.payload
    assert [r.levelno for r in caplog.records] == [logging.ERROR]
    assert alert.subject in caplog.text and "expect_column_pair_values_to_be_unique" in caplog.text


def test_the_default_alert_folder_is_under_clv_home(no_channels):
    alert = gate_alert()
    deliver(alert)
    assert (no_channels / "alerts" / alert.file_name).is_file()


def test_the_webhook_receives_the_json_payload(webhook, monkeypatch, tmp_path):
    monkeypatch.setenv("CLV_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{webhook.server_port}/hooks/clv")
    monkeypatch.setenv("CLV_ALERT_WEBHOOK_TOKEN", "s3cret")
    alert = gate_alert()

    outcomes = deliver(alert, alerts_dir=tmp_path / "alerts")

    assert outcomes["webhook"] == "sent"
    [(path, headers, body)] = webhook.requests
    assert path == "/hooks/clv"
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["Authorization"] == "Bearer s3cret"
    payload = json.loads(body.decode("utf-8"))
    assert payload["subject"] == "[CLV] clv_daily 2026-11-21: clv_gate failed — 2 error-level checks"
    assert (payload["dag_id"], payload["task_id"], payload["business_date"], payload["gate"]) == (
        "clv_daily", "clv_gate", DAY, "clv",
    )  # fmt: skip
    assert payload["error_check_count"] == 2
    assert [c["expectation_type"] for c in payload["failed_checks"]] == [
        "expect_column_values_to_not_be_null", "expect_column_pair_values_to_be_unique",
    ]  # fmt: skip
    assert "每个客户每个情景都有价值" in payload["exception_message"]


def test_a_webhook_answering_with_an_error_status_is_a_failed_channel(webhook, tmp_path):
    webhook.status = 500
    outcomes = deliver(
        gate_alert(),
        alerts_dir=tmp_path,
        channels=AlertChannels(webhook_url=f"http://127.0.0.1:{webhook.server_port}/"),
    )
    assert outcomes["webhook"].startswith("failed: HTTPError")


def test_the_email_goes_to_every_recipient_with_the_subject_and_the_chinese_text(smtp_server, monkeypatch, tmp_path):
    monkeypatch.setenv("CLV_ALERT_EMAIL_TO", "risk-data@bank.example, oncall@bank.example")
    monkeypatch.setenv("CLV_ALERT_EMAIL_FROM", "clv-alerts@bank.example")
    monkeypatch.setenv("CLV_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("CLV_SMTP_PORT", str(smtp_server.server_address[1]))
    alert = gate_alert()

    outcomes = deliver(alert, alerts_dir=tmp_path / "alerts")

    assert outcomes["email"] == "sent"
    [(sender, recipients, data)] = smtp_server.messages
    assert sender == "<clv-alerts@bank.example>"
    assert recipients == ["risk-data@bank.example", "oncall@bank.example"]
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert message["Subject"] == alert.subject
    assert message["To"] == "risk-data@bank.example, oncall@bank.example"
    body = message.get_body(("plain",)).get_content()
    assert body.replace("\r\n", "\n").rstrip("\n") == alert.text
    assert "每个客户每个情景都有价值" in body


def test_a_refused_webhook_is_logged_and_the_file_and_email_still_go_out(smtp_server, tmp_path, caplog):
    url = refused_url()
    channels = AlertChannels(
        webhook_url=url, email_to=("oncall@bank.example",), smtp_host="127.0.0.1",
        smtp_port=smtp_server.server_address[1], timeout_s=5,
    )  # fmt: skip
    alert = gate_alert()

    with caplog.at_level(logging.INFO, logger="python_tasks.orchestration.alerts"):
        outcomes = deliver(alert, alerts_dir=tmp_path / "alerts", channels=channels)

    assert outcomes["webhook"].startswith("failed: URLError")
    assert outcomes["email"] == "sent" and len(smtp_server.messages) == 1
    assert (tmp_path / "alerts" / alert.file_name).is_file()
    failure = [r for r in caplog.records if "posting to" in r.getMessage()]
    assert failure and failure[0].levelno == logging.ERROR
    assert "secret-token-in-path" not in caplog.text  # the webhook's path may be its secret


def test_email_without_an_smtp_host_fails_that_channel_only(tmp_path):
    outcomes = deliver(gate_alert(), alerts_dir=tmp_path, channels=AlertChannels(email_to=("a@bank.example",)))
    assert outcomes["email"] == "failed: ValueError: CLV_ALERT_EMAIL_TO is set but CLV_SMTP_HOST is not"
    assert outcomes["file"].startswith("written")


def test_channels_come_from_the_environment():
    channels = AlertChannels.from_env({
        "CLV_ALERT_WEBHOOK_URL": "https://hooks.bank.example/x", "CLV_ALERT_EMAIL_TO": " a@b.example ,, c@d.example ",
        "CLV_SMTP_HOST": "smtp.bank.example", "CLV_SMTP_PORT": "587", "CLV_SMTP_STARTTLS": "true",
        "CLV_SMTP_USER": "svc", "CLV_SMTP_PASSWORD": "pw",
    })  # fmt: skip
    assert channels.email_to == ("a@b.example", "c@d.example")
    assert (channels.smtp_port, channels.smtp_starttls, channels.smtp_user) == (587, True, "svc")
    assert AlertChannels.from_env({}) == AlertChannels()


# ------------------------------------------------------------------------------------------ Airflow


def airflow_context(exception: BaseException | str | None, *, task_id: str = "clv_gate") -> dict:
    """The keys of Airflow 3.3's task context that the callback reads (RuntimeTaskInstance and DagRun)."""
    ti = SimpleNamespace(
        dag_id="clv_daily", task_id=task_id, run_id=RUN_ID, try_number=1, max_tries=0, map_index=-1,
        log_url=f"http://localhost:8080/dags/clv_daily/runs/{RUN_ID}/tasks/{task_id}?try_number=1",
    )  # fmt: skip
    dag_run = SimpleNamespace(
        dag_id="clv_daily", run_id=RUN_ID, logical_date=datetime(2026, 11, 21, 22, tzinfo=UTC),
        run_after=datetime(2026, 11, 21, 22, tzinfo=UTC),
    )  # fmt: skip
    return {
        "ti": ti, "task_instance": ti, "dag_run": dag_run, "run_id": RUN_ID, "exception": exception,
        "task": SimpleNamespace(task_id=task_id, dag_id="clv_daily"), "dag": SimpleNamespace(dag_id="clv_daily"),
        "ds": DAY,
    }  # fmt: skip


def test_on_task_failure_writes_the_alert_with_the_recorded_checks(no_channels):
    record_clv_gate(no_channels / "warehouse" / "clv.duckdb")

    on_task_failure(airflow_context(GateFailed(GATE_MESSAGE)))

    [written] = (no_channels / "alerts").iterdir()
    assert written.name == "2026-11-21_scheduled__2026-11-21T22_00_00_00_00_clv_gate.json"
    payload = json.loads(written.read_text(encoding="utf-8"))
    assert payload["subject"] == "[CLV] clv_daily 2026-11-21: clv_gate failed — 2 error-level checks"
    assert [c["column_name"] for c in payload["failed_checks"]] == ["clv_cny", "pd_pit"]
    assert payload["warn_check_count"] == 1
    assert payload["log_url"].endswith("tasks/clv_gate?try_number=1")


def test_on_task_failure_without_a_warehouse_still_alerts(no_channels):
    on_task_failure(airflow_context(GateFailed(GATE_MESSAGE)))
    payload = json.loads(next((no_channels / "alerts").iterdir()).read_text(encoding="utf-8"))
    assert payload["error_check_count"] == 2 and "FileNotFoundError" in payload["results_unavailable"]


@pytest.mark.parametrize(
    "context",
    [
        {},
        {"exception": None},
        airflow_context("Task was killed externally (heartbeat timeout)", task_id="dbt_build"),
        {**airflow_context(RuntimeError("x")), "dag_run": SimpleNamespace(logical_date=None, run_after=None)},
        {**airflow_context(RuntimeError("x")), "ti": object(), "task_instance": object()},
    ],
    ids=["empty", "no-exception", "error-as-text", "dag-run-without-dates", "odd-ti"],
)
def test_on_task_failure_never_raises(context, no_channels):
    assert on_task_failure(context) is None
    assert len(list((no_channels / "alerts").iterdir())) == 1


def test_on_task_failure_never_raises_when_nothing_can_be_delivered(no_channels, monkeypatch, caplog):
    no_channels.parent.mkdir(parents=True, exist_ok=True)
    no_channels.write_text("CLV_HOME is a file: no alerts folder can be made")
    monkeypatch.setenv("CLV_SMTP_PORT", "not-a-port")
    monkeypatch.setenv("CLV_ALERT_EMAIL_TO", "a@bank.example")

    with caplog.at_level(logging.ERROR, logger="python_tasks.orchestration.alerts"):
        on_task_failure(airflow_context(RuntimeError("boom"), task_id="clv"))

    assert "writing the alert file failed" in caplog.text
    assert "channels are misconfigured" in caplog.text


def test_on_task_failure_logs_when_the_alert_cannot_be_composed(monkeypatch, caplog):
    import python_tasks.orchestration.alerts as alerts

    def broken(**_):
        raise RuntimeError("a bug in compose_alert")

    monkeypatch.setattr(alerts, "compose_alert", broken)
    with caplog.at_level(logging.ERROR, logger="python_tasks.orchestration.alerts"):
        on_task_failure(airflow_context(RuntimeError("boom")))
    assert "the alert could not be composed" in caplog.text


PROBE_DAG = '''
"""A tiny DAG whose tasks fail: a quality gate that records a failed check, and a plain error."""
from datetime import UTC, date, datetime

from airflow.sdk import dag, task

from python_tasks.orchestration.alerts import on_task_failure


@task
def clv_gate():
    from airflow.sdk import get_current_context

    from python_tasks.quality.results import Outcome, raise_on_failure, record_outcomes
    from python_tasks.quality.suites import Expectation
    from python_tasks.settings import get_settings

    expectation = Expectation("expect_column_values_to_not_be_null", {"column": "clv_cny"})
    failed = Outcome(expectation, False, 10, 3, 30.0, None, [None], None)
    run_id = get_current_context()["run_id"]
    summary = record_outcomes(
        get_settings().warehouse_path, "clv", date(2026, 11, 21), run_id, {"clv.client_values": [failed]}
    )
    raise_on_failure(summary)


@task
def broken():
    raise RuntimeError("客户文件缺失")


@dag(
    dag_id="alert_probe", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC), catchup=False,
    default_args={"retries": 0, "on_failure_callback": on_task_failure},
)
def alert_probe():
    clv_gate()
    broken()


probe = alert_probe()

if __name__ == "__main__":
    from airflow.utils.db import initdb

    initdb()
    run = probe.test(logical_date=datetime(2026, 11, 21, tzinfo=UTC))
    print("DAG RUN STATE:", run.state)
'''


@pytest.mark.airflow
@pytest.mark.timeout(180)
def test_dag_test_runs_the_failure_callback_and_the_alert_file_appears(tmp_path, no_channels):
    """Airflow 3.3's ``dag.test()`` runs each task in process and then its failure callback (task_runner's
    ``finalize``), as a real task process does. Run in a separate process, with a throw-away AIRFLOW_HOME
    and metadata DB, like tests/dags/conftest.py sets up, so this module never configures Airflow."""
    dags, airflow_home = tmp_path / "dags", tmp_path / "airflow_home"
    dags.mkdir()
    airflow_home.mkdir()
    (dags / "alert_probe.py").write_text(textwrap.dedent(PROBE_DAG), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env.update({
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__OPENLINEAGE__DISABLED": "True",
        "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
        "PYTHONPATH": str(PROJECT_ROOT),
    })  # fmt: skip

    done = subprocess.run(
        [sys.executable, str(dags / "alert_probe.py")], env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=170,
    )  # fmt: skip

    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-5000:]
    assert "DAG RUN STATE: failed" in output
    written = sorted((no_channels / "alerts").iterdir())
    alerts = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in written}
    assert {a["task_id"] for a in alerts.values()} == {"clv_gate", "broken"}, output[-5000:]
    assert all(name.startswith("2026-11-21_manual__") for name in alerts)
    gate, plain = (next(a for a in alerts.values() if a["task_id"] == t) for t in ("clv_gate", "broken"))
    assert gate["subject"] == "[CLV] alert_probe 2026-11-21: clv_gate failed — 1 error-level check"
    assert [c["column_name"] for c in gate["failed_checks"]] == ["clv_cny"]
    assert gate["run_id"].startswith("manual__") and gate["try_number"] == 1
    assert gate["log_url"] and "/dags/alert_probe/runs/" in gate["log_url"]
    assert plain["subject"] == "[CLV] alert_probe 2026-11-21: broken failed — RuntimeError"
    assert plain["exception_message"] == "客户文件缺失"
