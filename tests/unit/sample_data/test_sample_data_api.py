"""External data: the macro and industry publications, and the local API that serves them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import date

import pytest
from sample_data_testkit import FIRST

from python_tasks.codes.industry import sections
from python_tasks.contracts import load_contracts
from python_tasks.sample_data.api_server import serve
from python_tasks.sample_data.generate import generate


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    root = tmp_path_factory.mktemp("api") / "inbox"
    # 2026-11-20 + 14 days crosses into December: two publications per source
    generate(root, clients=30, first_date=FIRST, days=14)
    return root


@pytest.fixture(scope="module")
def api(inbox):
    server, _thread = serve(inbox / "_api")
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _payload(inbox, source: str, day: str) -> dict:
    return json.loads((inbox / "_api" / source / f"{day}.json").read_text(encoding="utf-8"))


def test_publications_on_month_starts(inbox):
    for source in ("macro_indicators", "industry_indicators"):
        assert sorted(p.name for p in (inbox / "_api" / source).iterdir()) == ["2026-11-01.json", "2026-12-01.json"]


def test_macro_publication(inbox):
    payload = _payload(inbox, "macro_indicators", "2026-11-01")
    assert payload["source"] == "macro_indicators" and payload["as_of_date"] == "2026-11-01"
    records = payload["records"]
    contract = load_contracts()["macro_indicators"]
    assert all(list(r) == contract.column_names for r in records)
    actual = [r for r in records if not r["is_forecast"]]
    forecast = [r for r in records if r["is_forecast"]]
    assert actual[0]["indicator_month"] == "2021-11-01" and actual[-1]["indicator_month"] == "2026-11-01"
    assert len(forecast) == 3 * 36 and forecast[-1]["indicator_month"] == "2029-11-01"
    by_month: dict[str, dict[str, dict]] = {}
    for r in actual:
        by_month.setdefault(r["indicator_month"], {})[r["scenario"]] = r
    for scenarios in by_month.values():
        values = [{k: v for k, v in r.items() if k != "scenario"} for r in scenarios.values()]
        assert len(values) == 3 and values[0] == values[1] == values[2]
    for r in actual:
        assert 3.0 <= r["gdp_growth_pct"] <= 7.0 and -1.0 <= r["cpi_yoy_pct"] <= 3.5
        assert 3.0 <= r["lpr_1y_pct"] <= 3.85 and 3.5 <= r["lpr_5y_pct"] <= 4.65 and r["lpr_5y_pct"] > r["lpr_1y_pct"]
        assert 47 <= r["pmi"] <= 53 and 7 <= r["m2_growth_pct"] <= 13
    def path(scenario: str, field: str) -> list[float]:
        return [r[field] for r in forecast if r["scenario"] == scenario]
    for field in ("gdp_growth_pct", "pmi"):
        base, adverse, severe = path("baseline", field), path("adverse", field), path("severe", field)
        assert sum(severe) < sum(adverse) < sum(base)
        assert all(s <= a <= b for b, a, s in zip(base, adverse, severe, strict=True))
    later = _payload(inbox, "macro_indicators", "2026-12-01")["records"]
    same = [r for r in later if r["indicator_month"] <= "2026-11-01" and not r["is_forecast"]]
    assert same == actual  # actuals are not revised


def test_industry_publication(inbox):
    records = _payload(inbox, "industry_indicators", "2026-11-01")["records"]
    quarters = sorted({r["quarter_end_date"] for r in records})
    assert quarters[0] == "2021-12-31"
    last_actual = "2026-09-30"
    assert quarters.index(last_actual) == len(quarters) - 13  # 12 forecast quarters after it
    assert quarters[-1] == "2029-09-30"
    for q in quarters:
        assert sorted(r["section_code"] for r in records if r["quarter_end_date"] == q) == sorted(sections())
    assert all(0 < r["npl_ratio_pct"] < 15 and -60 <= r["output_growth_pct"] <= 100 for r in records)
    assert all(date.fromisoformat(q).month in (3, 6, 9, 12) for q in quarters)


def test_serves_a_publication(api, inbox):
    status, body = _get(f"{api}/v1/macro_indicators?as_of_date=2026-11-01")
    assert status == 200 and body == _payload(inbox, "macro_indicators", "2026-11-01")
    status, body = _get(f"{api}/v1/industry_indicators")
    assert status == 200 and body["as_of_dates"] == ["2026-11-01", "2026-12-01"]
    status, body = _get(f"{api}/")
    assert status == 200 and body["sources"] == ["industry_indicators", "macro_indicators"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/macro_indicators?as_of_date=2026-10-01", 404),
        ("/v1/no_such_source?as_of_date=2026-11-01", 404),
        ("/v1/macro_indicators?as_of_date=2026-13-45", 400),
        ("/v1/macro_indicators?as_of_date=yesterday", 400),
        ("/v1/macro_indicators?as_of_date=../../_manifest", 400),
        ("/v1/..%2F..%2F_manifest.json?as_of_date=2026-11-01", 404),
        ("/v1/%2E%2E?as_of_date=2026-11-01", 404),
        ("/v1/macro_indicators/../../../etc/passwd", 404),
        ("/v2/macro_indicators?as_of_date=2026-11-01", 404),
    ],
)
def test_errors_and_path_traversal(api, path, status):
    code, body = _get(api + path)
    assert code == status and body["status"] == status and "error" in body
    assert "records" not in body and "parameters" not in body
