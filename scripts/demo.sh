#!/usr/bin/env bash
# The demo: S-scale sample data, the external-data DAG for the month, then the daily DAG through Airflow
# for the initial history load and a few daily deltas; ends with a summary of the warehouse.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/airflow_env.sh
export CLV_HOME="${CLV_HOME:-$CLV_PROJECT_ROOT/var}"
FIRST="${DEMO_FIRST_DATE:-2026-11-20}"
DAYS="${DEMO_DAYS:-3}"
PORT="${CLV_DEMO_API_PORT:-8765}"
PY=.venv/bin/python

echo "== 1/5 generating S-scale sample deliveries (first date $FIRST, $DAYS daily deltas) into $CLV_HOME/inbox"
$PY -m python_tasks generate --scale S --first-date "$FIRST" --days "$DAYS"

echo "== 2/5 starting the external-data API (the vendor's JSON API, served locally) on port $PORT"
$PY -m python_tasks serve-api --port "$PORT" > "$CLV_HOME/api_server.log" 2>&1 &
API_PID=$!
trap 'kill $API_PID 2>/dev/null || true' EXIT
export CLV_EXTERNAL_API_URL="http://127.0.0.1:$PORT"
for _ in $(seq 50); do
  curl -s -o /dev/null "$CLV_EXTERNAL_API_URL/" && break
  sleep 0.2
done

MONTH="${FIRST:0:7}-01"
echo "== 3/5 airflow dags test clv_external_monthly $MONTH"
airflow dags test clv_external_monthly "$MONTH" > "$CLV_HOME/logs_external_$MONTH.log" 2>&1 || {
  tail -50 "$CLV_HOME/logs_external_$MONTH.log"; exit 1; }

echo "== 4/5 airflow dags test clv_daily for $FIRST and the next $DAYS days"
for i in $(seq 0 "$DAYS"); do
  D=$(date -d "$FIRST + $i day" +%F)
  echo "   clv_daily $D"
  airflow dags test clv_daily "$D" > "$CLV_HOME/logs_daily_$D.log" 2>&1 || { tail -50 "$CLV_HOME/logs_daily_$D.log"; exit 1; }
done

echo "== 5/5 dbt docs generate (models, columns, tests and lineage as a static site)"
$PY -m python_tasks dbt-docs > "$CLV_HOME/logs_dbt_docs.log" 2>&1 || { tail -50 "$CLV_HOME/logs_dbt_docs.log"; exit 1; }

$PY -m python_tasks status
cat <<MSG

Run report:   $CLV_HOME/reports/latest.html   (open in a browser: charts, strategy matrix, warnings, data quality)
Data quality: $CLV_HOME/quality/data_docs/<run id>/<date>/index.html   (GX Data Docs of every gate; linked from the report)
Lineage:      $CLV_HOME/lineage/<date>/  and evidence bundles in $CLV_HOME/evidence/<date>/<run id>/
              (python -m python_tasks trace --column clv_cny --client <client id> --date <date>)
Warehouse:    $CLV_HOME/warehouse/clv.duckdb   (open read-only: duckdb -readonly <file>, or python -m python_tasks status)
Airflow logs: $CLV_HOME/logs_*.log and $AIRFLOW_HOME/logs
dbt docs:     $CLV_HOME/dbt/target/index.html   (serve: cd $CLV_HOME/dbt/target && python -m http.server 8081)
Airflow UI:   source scripts/airflow_env.sh && airflow standalone   (then http://localhost:8080)
MSG
