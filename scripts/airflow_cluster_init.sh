#!/usr/bin/env bash
# Init job of the production topology (docker-compose.yml service airflow-init, and the native test
# tests/integration/deployment/): check the settings, migrate the metadata DB, create the warehouse pool and
# the admin's password. Idempotent: every start of the stack may run it again.
#
# Needs the topology's environment (python_tasks/deployment/topology.py); in production mode
# (CLV_MODE=production) it refuses to start without the Fernet key, the JWT secret, the API secret key and
# the admin password.
set -euo pipefail

POOL_NAME="duckdb_warehouse"   # python_tasks.settings.WAREHOUSE_POOL (tests/unit/deployment checks it)
POOL_SLOTS=1
POOL_DESCRIPTION="DuckDB allows one writing process: every task that opens the warehouse runs in this pool"

missing=()
for name in AIRFLOW__DATABASE__SQL_ALCHEMY_CONN AIRFLOW__CELERY__BROKER_URL AIRFLOW__CELERY__RESULT_BACKEND; do
  [ -n "${!name:-}" ] || missing+=("$name")
done
if [ "${CLV_MODE:-demo}" = "production" ]; then
  for name in AIRFLOW__CORE__FERNET_KEY AIRFLOW__API_AUTH__JWT_SECRET AIRFLOW__API__SECRET_KEY AIRFLOW_ADMIN_PASSWORD CLV_PII_KEY; do
    [ -n "${!name:-}" ] || missing+=("$name")
  done
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "airflow-init: not set: ${missing[*]} (see .env.example and docs/runbooks/production.md)" >&2
  exit 2
fi

echo "airflow-init: migrating the metadata DB"
airflow db migrate
echo "airflow-init: pool $POOL_NAME with $POOL_SLOTS slot"
airflow pools set "$POOL_NAME" "$POOL_SLOTS" "$POOL_DESCRIPTION"

# The simple auth manager reads users from AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS ("admin:admin") and their
# passwords from this file; it is written from the environment, never from the repository.
if [ -n "${AIRFLOW_ADMIN_PASSWORD:-}" ] && [ -n "${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:-}" ]; then
  umask 077
  python - <<'PY'
import json, os
user = os.environ.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "admin:admin").split(",")[0].split(":")[0]
path = os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
with open(path, "w", encoding="utf-8") as f:
    json.dump({user: os.environ["AIRFLOW_ADMIN_PASSWORD"]}, f)
print(f"airflow-init: password of {user} written to {path}")
PY
fi
echo "airflow-init: done (airflow $(airflow version 2>/dev/null | tail -n 1))"
