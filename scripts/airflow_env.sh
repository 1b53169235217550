# shellcheck shell=sh
# Environment of the embedded Airflow (standalone, SQLite metadata, LocalExecutor), all under the project.
#
#   source scripts/airflow_env.sh        # then: bash scripts/airflow_setup.sh; airflow standalone
#
# Sourced by the Makefile and the README; it only exports variables. Where Airflow keeps its state and
# finds the DAGs is fixed to this project (a global AIRFLOW_HOME in your shell must not capture the demo);
# every other setting below is a default that a variable already set in the environment overrides.

# The project root is the parent of this file's folder. bash and zsh can tell which file is being sourced;
# a plain POSIX sh (the Makefile's default /bin/sh) cannot, so there the current directory must be the
# project root (or CLV_PROJECT_ROOT set).
if [ -n "${BASH_VERSION:-}" ]; then
  _clv_env_src="$(eval 'printf %s "${BASH_SOURCE[0]}"')"
elif [ -n "${ZSH_VERSION:-}" ]; then
  _clv_env_src="$(eval 'printf %s "${(%):-%x}"')"
else
  _clv_env_src="${CLV_PROJECT_ROOT:-$PWD}/scripts/airflow_env.sh"
fi
CLV_PROJECT_ROOT="$(cd "$(dirname "$_clv_env_src")/.." && pwd)"
unset _clv_env_src
if [ ! -f "$CLV_PROJECT_ROOT/scripts/airflow_env.sh" ]; then
  echo "airflow_env.sh: $CLV_PROJECT_ROOT is not the project root; source this file from the project" \
    "folder or set CLV_PROJECT_ROOT" >&2
  return 1 2>/dev/null || exit 1
fi
export CLV_PROJECT_ROOT

# Airflow's own state: metadata DB, logs, generated config, standalone admin password.
export AIRFLOW_HOME="$CLV_PROJECT_ROOT/airflow_home"
export AIRFLOW__CORE__DAGS_FOLDER="$CLV_PROJECT_ROOT/dags"
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$AIRFLOW_HOME/airflow.db"
export AIRFLOW__CORE__EXECUTOR="LocalExecutor"
# The project's virtual environment (uv sync) provides the airflow command.
if [ -x "$CLV_PROJECT_ROOT/.venv/bin/airflow" ]; then
  case ":$PATH:" in
    *":$CLV_PROJECT_ROOT/.venv/bin:"*) ;;
    *) export PATH="$CLV_PROJECT_ROOT/.venv/bin:$PATH" ;;
  esac
fi
# The project's code (python_tasks) must be importable by the DAG processor and the task processes;
# config/airflow holds airflow_local_settings.py (the scheduler preloads what the gate tasks import).
case ":${PYTHONPATH:-}:" in
  *":$CLV_PROJECT_ROOT:"*) ;;
  *) export PYTHONPATH="$CLV_PROJECT_ROOT:$CLV_PROJECT_ROOT/config/airflow${PYTHONPATH:+:$PYTHONPATH}" ;;
esac

# Quiet and fast for a demo on one machine.
export AIRFLOW__CORE__LOAD_EXAMPLES="${AIRFLOW__CORE__LOAD_EXAMPLES:-False}"
# New DAGs start paused (Airflow's default, stated here on purpose): an unpaused DAG would at once run
# its latest scheduled date, for which the demo may have no deliveries. Unpause or trigger explicitly.
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="${AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION:-True}"
# SQLite takes one writer: a small number of parallel task processes avoids "database is locked";
# the warehouse pool has one slot anyway.
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-4}"
# Pick up new or edited DAG files within seconds rather than minutes.
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="${AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL:-30}"
export AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="${AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL:-30}"
export AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES="${AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES:-1}"
export AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL="${AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL:-300}"
# Local UI: every user is an admin (no login page); this is for a single developer's machine only.
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS:-True}"
export AIRFLOW__API__EXPOSE_CONFIG="${AIRFLOW__API__EXPOSE_CONFIG:-True}"
# Set AIRFLOW__API__PORT before sourcing to move the UI: task processes reach the execution API through
# the base URL, so both must agree.
export AIRFLOW__API__PORT="${AIRFLOW__API__PORT:-8080}"
export AIRFLOW__API__BASE_URL="http://localhost:$AIRFLOW__API__PORT"
# Lineage events get a namespace (transport configured with the lineage work; none means no events).
export AIRFLOW__OPENLINEAGE__NAMESPACE="${AIRFLOW__OPENLINEAGE__NAMESPACE:-clv_warehouse}"
export AIRFLOW__LOGGING__COLORED_CONSOLE_LOG="${AIRFLOW__LOGGING__COLORED_CONSOLE_LOG:-False}"

# The pipeline's own folders (inbox, landing, warehouse) default to <project>/var; see python_tasks/settings.py.
export CLV_HOME="${CLV_HOME:-$CLV_PROJECT_ROOT/var}"
