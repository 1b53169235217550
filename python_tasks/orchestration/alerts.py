"""A clear alert when a task of the daily run fails: which task, which business date, which gate and checks.

``on_task_failure`` is the tasks' ``on_failure_callback``. In Airflow 3.3 a task's failure callback runs in
the task's own process right after the task has failed for good (not on a failure that will be retried),
with the task's context plus ``exception``. The callback composes an :class:`Alert` and delivers it:

- always: logged at ERROR level (the task log) and written as JSON to
  ``<CLV_HOME>/alerts/<business date>_<run id>_<task id>.json``;
- ``CLV_ALERT_WEBHOOK_URL``: the JSON payload POSTed there (``CLV_ALERT_WEBHOOK_TOKEN`` as a bearer token);
- ``CLV_ALERT_EMAIL_TO`` (comma-separated) with ``CLV_SMTP_HOST``: a plain-text UTF-8 email.

Every channel is off unless its variable is set (the demo sets none); a channel that fails is logged and
the others still run; the callback never raises, so a broken alert cannot hide the failure it reports.

When the failed task is a data-quality gate, the alert lists the gate's failed error-level checks of this
run and business date from ``audit.dq_results`` (read-only; a missing warehouse or table only makes the
alert say so). See docs/alerts.md.

Imported by the DAG file at parse time: only light standard-library modules at module level; the
warehouse, the settings, the business-date helpers and the mail and HTTP clients are imported inside the
functions that need them.
"""

from __future__ import annotations

import json
import logging
import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SUBJECT_PREFIX = "[CLV]"
#: Failed checks listed in an alert (text and payload); the counts are always complete.
MAX_CHECKS_LISTED = 50
#: Characters of the exception message kept in the text body (the payload keeps it whole).
MAX_MESSAGE_CHARS = 6000
DEFAULT_TIMEOUT_S = 10.0
TRUE_VALUES = frozenset({"1", "true", "yes", "on"})

_GATE_MESSAGE = re.compile(r"^(?P<gate>[\w.-]+) gate failed for (?P<date>\d{4}-\d{2}-\d{2})")
_ERROR_COUNT = re.compile(r"\((?P<count>\d+) error-level checks?\)")
_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class FailedCheck:
    """One failed expectation of a gate, as recorded in ``audit.dq_results``."""

    suite: str
    expectation_type: str
    column_name: str | None = None
    severity: str = "error"
    observed_value: str | None = None
    unexpected_count: int | None = None
    element_count: int | None = None
    unexpected_sample: Any = None
    exception: str | None = None

    def describe(self) -> str:
        """One line, in the shape of the gate's own failure message."""
        line = f"{self.suite}: {self.expectation_type}({self.column_name or ''})"
        if self.unexpected_count is not None:
            line += f" unexpected {self.unexpected_count}"
            if self.element_count is not None:
                line += f" of {self.element_count}"
        if self.unexpected_sample:
            sample = self.unexpected_sample
            line += f" e.g. {sample[:3] if isinstance(sample, list) else sample}"
        elif self.observed_value:
            line += f" observed {self.observed_value}"
        if self.exception:
            line += f" [{self.exception}]"
        return _shorten(line, 400)

    def as_dict(self) -> dict[str, Any]:
        return {
            "suite": self.suite, "expectation_type": self.expectation_type, "column_name": self.column_name,
            "severity": self.severity, "observed_value": self.observed_value,
            "unexpected_count": self.unexpected_count, "element_count": self.element_count,
            "unexpected_sample": self.unexpected_sample, "exception": self.exception,
        }  # fmt: skip


@dataclass(frozen=True)
class GateResults:
    """What ``audit.dq_results`` holds for one gate, run and business date (or why it could not be read)."""

    gate: str
    evaluated: int = 0
    error_count: int = 0
    warn_count: int = 0
    #: the failed error-level checks (at most :data:`MAX_CHECKS_LISTED`; ``error_count`` is the total)
    errors: tuple[FailedCheck, ...] = ()
    #: why the results could not be read; None when they were
    unavailable: str | None = None


@dataclass(frozen=True)
class Alert:
    """One failure alert: a subject line, a plain-text body and a JSON payload saying the same."""

    subject: str
    text: str
    payload: dict[str, Any]
    #: ``<business date>_<run id>_<task id>.json``, safe as a file name
    file_name: str = field(default="alert.json")

    def to_json(self) -> str:
        return json.dumps(self.payload, ensure_ascii=False, indent=2, default=str)


# --------------------------------------------------------------------------------------------- compose


def gate_of(task_id: str, exception_type: str | None, exception_message: str | None) -> str | None:
    """The gate a failed task is, from ``GateFailed``'s message or a task id ending in ``_gate``; else None."""
    if exception_type == "GateFailed" and exception_message:
        match = _GATE_MESSAGE.match(exception_message.strip())
        if match:
            return match["gate"]
    name = task_id.rsplit(".", 1)[-1]
    if name.endswith("_gate") and len(name) > len("_gate"):
        return name.removesuffix("_gate")
    return None


def compose_alert(
    *,
    dag_id: str,
    task_id: str,
    run_id: str,
    business_date: str | None,
    try_number: int | None,
    exception_type: str | None,
    exception_message: str | None,
    gate: str | None = None,
    gate_results: GateResults | None = None,
    log_url: str | None = None,
    max_tries: int | None = None,
    map_index: int | None = None,
    rule: str | None = None,
) -> Alert:
    """The alert for one failed task. Pure: every fact is passed in (see :func:`alert_from_context`).

    ``gate`` names the gate when the task is one (see :func:`gate_of`); ``gate_results`` are its recorded
    outcomes for this run and date. ``rule`` is a delivery error's rule (``DeliveryError.rule``).
    """
    message = (exception_message or "").strip()
    reported = bool(exception_type or message)
    exception_type = exception_type or ("error" if message else "no exception reported")
    day = business_date or "unknown date"
    task_label = task_id if map_index is None or map_index < 0 else f"{task_id}[{map_index}]"

    error_count = _error_count(gate, gate_results, exception_type, message)
    if gate is not None and (exception_type == "GateFailed" or error_count):
        what = _checks(error_count, "error-level") if error_count is not None else "error-level checks failed"
    else:  # not a gate, or a gate that broke down rather than finding failed checks
        what = exception_type + (f" [rule {rule}]" if rule else "")
    subject = f"{SUBJECT_PREFIX} {dag_id} {day}: {task_label} failed — {what}"

    tries = f"try {try_number}" + (f" of {max_tries + 1}" if max_tries is not None and try_number else "")
    lines = [
        f"{dag_id}: task {task_label} failed for business date {day}.",
        "",
        f"Run:   {run_id} ({tries if try_number else 'try unknown'})",
        f"Error: {exception_type}" + (f" [rule {rule}]" if rule else ""),
    ]
    if log_url:
        lines.append(f"Log:   {log_url}")
    if not reported:
        lines.append(
            "The task reported no exception: it was probably killed, timed out or lost its heartbeat (Airflow then "
            "runs this callback outside the task). Its log says more."
        )
    checks_payload: list[dict[str, Any]] = []
    if gate is not None:
        lines += _gate_lines(gate, gate_results)
        if gate_results is not None:
            checks_payload = [c.as_dict() for c in gate_results.errors[:MAX_CHECKS_LISTED]]
    lines += ["", "Error message:", _shorten(message, MAX_MESSAGE_CHARS) or "(none)"]
    if gate is not None and business_date:
        lines += [
            "",
            "Every outcome of the gate for this run:",
            "  SELECT suite, expectation_type, column_name, severity, success, observed_value, unexpected_count,",
            "         unexpected_sample FROM audit.dq_results",
            f"  WHERE run_id = {_sql_text(run_id)} AND as_of_date = DATE {_sql_text(business_date)}"
            f" AND gate = {_sql_text(gate)}",
            "  ORDER BY success, severity, suite;",
        ]
    lines += ["", "What the gates check and how to rerun a day: docs/quality.md, dags/clv_daily.py."]

    payload: dict[str, Any] = {
        "kind": "task_failure",
        "subject": subject,
        "dag_id": dag_id,
        "task_id": task_id,
        "map_index": map_index if map_index is not None and map_index >= 0 else None,
        "run_id": run_id,
        "business_date": business_date,
        "try_number": try_number,
        "max_tries": max_tries,
        "exception_type": exception_type,
        "exception_message": message,
        "rule": rule,
        "gate": gate,
        "error_check_count": error_count,
        "warn_check_count": gate_results.warn_count if gate_results and not gate_results.unavailable else None,
        "checks_evaluated": gate_results.evaluated if gate_results and not gate_results.unavailable else None,
        "failed_checks": checks_payload,
        "results_unavailable": gate_results.unavailable if gate_results else None,
        "log_url": log_url,
        "text": "\n".join(lines),
    }
    file_name = alert_file_name(business_date, run_id, task_label)
    return Alert(subject=subject, text=payload["text"], payload=payload, file_name=file_name)


def alert_file_name(business_date: str | None, run_id: str, task_id: str) -> str:
    """``<business date>_<run id>_<task id>.json`` with every character a file system may refuse replaced."""
    parts = [business_date or "unknown-date", run_id or "unknown-run", task_id or "unknown-task"]
    safe = [_UNSAFE_FILE_CHARS.sub("_", p).strip("._")[:100] or "_" for p in parts]
    return "_".join(safe) + ".json"


def _error_count(gate: str | None, results: GateResults | None, exception_type: str, message: str) -> int | None:
    if gate is None:
        return None
    if results is not None and results.unavailable is None and results.error_count:
        return results.error_count
    match = _ERROR_COUNT.search(message.split("\n", 1)[0]) if exception_type == "GateFailed" else None
    if match:
        return int(match["count"])
    if results is not None and results.unavailable is None:
        return results.error_count
    return None


def _gate_lines(gate: str, results: GateResults | None) -> list[str]:
    lines = [f"Gate:  {gate} — the run stopped at this gate; nothing after it was published."]
    if results is None:
        return lines + ["", "The gate's recorded results were not read; the checks are in the error message below."]
    if results.unavailable is not None:
        return lines + [
            "",
            f"audit.dq_results could not be read ({results.unavailable}); the checks as the gate reported them "
            "are in the error message below.",
        ]
    lines.append(f"Checks: {results.evaluated} evaluated, {results.error_count} error-level failed")
    lines.append(
        f"Warn:  {_checks(results.warn_count, 'warn-level')} failed (recorded only: warn-level checks never stop the run)"
    )
    if results.errors:
        lines += ["", f"Failed error-level checks ({results.error_count}, from audit.dq_results):"]
        lines += [f"  - {c.describe()}" for c in results.errors[:MAX_CHECKS_LISTED]]
        if results.error_count > MAX_CHECKS_LISTED:
            lines.append(f"  … and {results.error_count - MAX_CHECKS_LISTED} more")
    else:
        lines += ["", "No failed error-level check is recorded for this run and date; see the error message below."]
    return lines


def _checks(count: int, severity: str) -> str:
    return f"{count} {severity} check{'' if count == 1 else 's'}"


def _sql_text(value: str) -> str:
    """A literal for the query printed in the alert (for a person to paste; never executed here)."""
    return "'" + value.replace("'", "''") + "'"


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ------------------------------------------------------------------------------------------ warehouse


def read_gate_results(warehouse_path: Path, *, gate: str, run_id: str, business_date: str) -> GateResults:
    """This run's outcomes of ``gate`` for the date, read-only; a missing warehouse or table is reported
    in ``unavailable`` rather than raised."""
    try:
        from datetime import date

        from python_tasks.io import warehouse

        params = {"r": run_id, "d": date.fromisoformat(business_date), "g": gate}
        where = "run_id = $r AND as_of_date = $d AND gate = $g"
        with warehouse.connect(Path(warehouse_path), read_only=True) as con:
            evaluated, errors, warnings = con.execute(
                f"""
                SELECT count(*),
                       count(*) FILTER (WHERE NOT success AND severity = 'error'),
                       count(*) FILTER (WHERE NOT success AND severity <> 'error')
                FROM audit.dq_results WHERE {where}
                """,
                params,
            ).fetchone()
            rows = con.execute(
                f"""
                SELECT suite, expectation_type, column_name, severity, observed_value, unexpected_count,
                       element_count, CAST(unexpected_sample AS VARCHAR), exception
                FROM audit.dq_results
                WHERE {where} AND NOT success AND severity = 'error'
                ORDER BY suite, expectation_type, column_name
                LIMIT {MAX_CHECKS_LISTED}
                """,
                params,
            ).fetchall()
    except Exception as exc:  # the alert must go out whatever state the warehouse is in
        return GateResults(gate=gate, unavailable=f"{type(exc).__name__}: {_shorten(str(exc), 300)}")
    checks = tuple(
        FailedCheck(*r[:7], unexpected_sample=_json_or_text(r[7]), exception=r[8])  # columns in field order
        for r in rows
    )
    return GateResults(gate=gate, evaluated=evaluated, error_count=errors, warn_count=warnings, errors=checks)


def _json_or_text(value: str | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


# ----------------------------------------------------------------------------------------- Airflow


def alert_from_context(context: Mapping[str, Any]) -> Alert:
    """The alert for the failed task of an Airflow task context (``on_failure_callback``'s argument)."""
    ti = context.get("ti") or context.get("task_instance")
    task = context.get("task")
    dag = context.get("dag")
    exception = context.get("exception")

    task_id = _first(getattr(ti, "task_id", None), getattr(task, "task_id", None)) or "unknown_task"
    dag_id = _first(getattr(ti, "dag_id", None), getattr(dag, "dag_id", None), getattr(task, "dag_id", None))
    run_id = _first(context.get("run_id"), getattr(ti, "run_id", None)) or "unknown_run"
    if isinstance(exception, BaseException):
        exception_type, message = type(exception).__name__, str(exception)
    else:  # a callback run outside the task process gets the error as text, or none
        exception_type, message = None, (str(exception) if exception else None)
    rule = getattr(exception, "rule", None)

    business_date = _business_date(context, exception_type, message)
    gate = gate_of(task_id, exception_type, message)
    gate_results = None
    if gate is not None and business_date is not None:
        from python_tasks.settings import get_settings

        gate_results = read_gate_results(
            get_settings().warehouse_path, gate=gate, run_id=run_id, business_date=business_date
        )

    return compose_alert(
        dag_id=dag_id or "unknown_dag",
        task_id=task_id,
        run_id=run_id,
        business_date=business_date,
        try_number=_int_or_none(getattr(ti, "try_number", None)),
        max_tries=_int_or_none(getattr(ti, "max_tries", None)),
        map_index=_int_or_none(getattr(ti, "map_index", None)),
        exception_type=exception_type,
        exception_message=message,
        gate=gate,
        gate_results=gate_results,
        log_url=_log_url(ti),
        rule=str(rule) if rule else None,
    )


def on_task_failure(context: Mapping[str, Any]) -> None:
    """``on_failure_callback`` of the daily run's tasks: compose the alert and deliver it. Never raises."""
    try:
        alert = alert_from_context(context)
    except Exception:
        log.exception("failure alert: the alert could not be composed; the task failure itself stands")
        return
    try:
        deliver(alert)
    except Exception:
        log.exception("failure alert: delivering the alert failed")


def _business_date(context: Mapping[str, Any], exception_type: str | None, message: str | None) -> str | None:
    dag_run = context.get("dag_run")
    if dag_run is not None:
        try:
            from python_tasks.orchestration.business_dates import business_date_of_run

            return business_date_of_run(dag_run)
        except Exception as exc:
            log.warning("failure alert: no business date from the dag run (%s)", exc)
    if exception_type == "GateFailed" and message and (match := _GATE_MESSAGE.match(message.strip())):
        return match["date"]
    ds = context.get("ds")
    return str(ds) if ds else None


def _log_url(ti: Any) -> str | None:
    try:
        url = getattr(ti, "log_url", None)
    except Exception:  # the property reads Airflow's configuration
        return None
    return url if isinstance(url, str) and url else None


def _first(*values: Any) -> Any:
    return next((v for v in values if v), None)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


# ------------------------------------------------------------------------------------------ deliver


@dataclass(frozen=True)
class AlertChannels:
    """The channels the environment switches on; every one is off when its variable is unset."""

    webhook_url: str | None = None
    webhook_token: str | None = None
    email_to: tuple[str, ...] = ()
    email_from: str = "clv-alerts@localhost"
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AlertChannels:
        env = os.environ if env is None else env

        def get(key: str) -> str | None:
            value = env.get(key, "").strip()
            return value or None

        return cls(
            webhook_url=get("CLV_ALERT_WEBHOOK_URL"),
            webhook_token=get("CLV_ALERT_WEBHOOK_TOKEN"),
            email_to=tuple(a.strip() for a in (get("CLV_ALERT_EMAIL_TO") or "").split(",") if a.strip()),
            email_from=get("CLV_ALERT_EMAIL_FROM") or cls.email_from,
            smtp_host=get("CLV_SMTP_HOST"),
            smtp_port=int(get("CLV_SMTP_PORT") or 25),
            smtp_user=get("CLV_SMTP_USER"),
            smtp_password=get("CLV_SMTP_PASSWORD"),
            smtp_starttls=(get("CLV_SMTP_STARTTLS") or "").lower() in TRUE_VALUES,
            timeout_s=float(get("CLV_ALERT_TIMEOUT_S") or DEFAULT_TIMEOUT_S),
        )


def deliver(alert: Alert, *, alerts_dir: Path | None = None, channels: AlertChannels | None = None) -> dict[str, str]:
    """Log the alert, write its file and send it to every channel switched on; one channel failing does not
    stop the others. Returns each channel's outcome (``sent``, ``written <path>``, ``failed: …``)."""
    log.error("%s\n%s", alert.subject, alert.text)
    outcomes = {"log": "sent"}

    try:
        if alerts_dir is None:
            from python_tasks.settings import get_settings

            alerts_dir = get_settings().home / "alerts"
        outcomes["file"] = f"written {write_alert_file(alert, alerts_dir)}"
    except Exception as exc:
        outcomes["file"] = f"failed: {type(exc).__name__}: {exc}"
        log.exception("failure alert: writing the alert file failed")

    try:
        channels = AlertChannels.from_env() if channels is None else channels
    except Exception as exc:  # e.g. a port that is not a number
        outcomes["config"] = f"failed: {type(exc).__name__}: {exc}"
        log.exception("failure alert: the alert channels are misconfigured; only the log and the file were used")
        return outcomes

    if channels.webhook_url:
        try:
            status = post_webhook(alert, channels.webhook_url, token=channels.webhook_token, timeout=channels.timeout_s)
            outcomes["webhook"] = "sent"
            log.info("failure alert: posted to %s (HTTP %s)", _redacted(channels.webhook_url), status)
        except Exception as exc:
            outcomes["webhook"] = f"failed: {type(exc).__name__}: {exc}"
            log.error("failure alert: posting to %s failed: %s: %s", _redacted(channels.webhook_url),
                      type(exc).__name__, exc)  # fmt: skip

    if channels.email_to:
        try:
            send_email(alert, channels)
            outcomes["email"] = "sent"
            log.info("failure alert: emailed %s via %s", ", ".join(channels.email_to), channels.smtp_host)
        except Exception as exc:
            outcomes["email"] = f"failed: {type(exc).__name__}: {exc}"
            log.error("failure alert: emailing %s failed: %s: %s", ", ".join(channels.email_to),
                      type(exc).__name__, exc)  # fmt: skip
    return outcomes


def write_alert_file(alert: Alert, alerts_dir: Path) -> Path:
    """Write the payload to ``alerts_dir/<file name>`` (replacing the file atomically) and return the path."""
    from python_tasks.io.files import write_text_atomic

    return write_text_atomic(alerts_dir / alert.file_name, alert.to_json() + "\n")


def post_webhook(alert: Alert, url: str, *, token: str | None = None, timeout: float = DEFAULT_TIMEOUT_S) -> int:
    """POST the payload as JSON (UTF-8); an HTTP error status raises. Returns the status code."""
    import urllib.request

    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ValueError("CLV_ALERT_WEBHOOK_URL must be an http or https URL")
    body = json.dumps(alert.payload, ensure_ascii=False, default=str).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "clv-warehouse-alerts"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:  # scheme checked above
        return response.status


def send_email(alert: Alert, channels: AlertChannels) -> None:
    """Send the alert as a plain-text UTF-8 email through the configured SMTP server."""
    import smtplib
    import ssl
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid

    if not channels.smtp_host:
        raise ValueError("CLV_ALERT_EMAIL_TO is set but CLV_SMTP_HOST is not")
    message = EmailMessage()
    message["Subject"] = alert.subject
    message["From"] = channels.email_from
    message["To"] = ", ".join(channels.email_to)
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=channels.email_from.rpartition("@")[2] or "localhost")
    # base64 for Chinese text, quoted-printable otherwise: both survive any relay and any line length
    message.set_content(alert.text, charset="utf-8", cte="quoted-printable" if alert.text.isascii() else "base64")
    with smtplib.SMTP(channels.smtp_host, channels.smtp_port, timeout=channels.timeout_s) as smtp:
        if channels.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if channels.smtp_user:
            smtp.login(channels.smtp_user, channels.smtp_password or "")
        smtp.send_message(message, to_addrs=list(channels.email_to))


def _redacted(url: str) -> str:
    """Scheme and host only: a webhook's path and query often carry its secret."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}{f':{parts.port}' if parts.port else ''}/…"
