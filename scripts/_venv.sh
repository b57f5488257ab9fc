# Sourced by scripts/serve, scripts/test, scripts/lock and .ci/run, then called as
# `ensure_venv`, `ensure_venv postgres` or `ensure_venv test`: make ./.venv and install into
# it the exact, hashed versions of requirements/<app|postgres|test>.txt, then the project
# itself (editable, no dependency resolution). It re-installs only when pyproject.toml or
# that lock file is newer than the last install. A function, not `source _venv.sh ARG`: a
# script sourced without arguments sees its caller's ("--port 9000" became an extra).
#   (none)    the app alone (what a deployment on SQLite runs)
#   postgres  the app and the PostgreSQL driver
#   test      everything the full suite needs: pytest, Playwright, ruff, mypy, pip-audit…
ensure_venv() {
  local lock="${1:-app}"
  local python="${PYTHON:-python3}"
  case "$lock" in
    app | postgres | test) ;;
    *)
      echo "ensure_venv: unknown install '$lock' (app, postgres or test)." >&2
      return 1
      ;;
  esac
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "Python 3.11 or newer is needed (found: $("$python" --version 2>&1))." >&2
    return 1
  fi
  if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
  fi
  # A larger install holds a smaller one: test ⊇ postgres ⊇ app.
  local candidate
  for candidate in test postgres app; do
    if _venv_fresh "$candidate"; then
      return 0
    fi
    [ "$candidate" = "$lock" ] && break
  done
  echo "Installing the app${1:+ and its $1 packages} into ./.venv from requirements/$lock.txt…" >&2
  # pip and setuptools talk a lot (build warnings included): keep it in a log and show it
  # only when the install fails. --no-build-isolation: the project is built with the
  # locked setuptools, not whatever version a fresh build environment would fetch.
  local log=.venv/install.log
  if ! { .venv/bin/python -m pip install --quiet --require-hashes -r "requirements/$lock.txt" \
      && .venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .; } \
      >"$log" 2>&1; then
    cat "$log" >&2
    echo "Installing into ./.venv failed (the log above is in $log)." >&2
    return 1
  fi
  rm -f .venv/.installed*
  touch ".venv/.installed-$lock"
}

# True when ./.venv holds the install from requirements/$1.txt and neither that lock nor
# pyproject.toml changed since.
_venv_fresh() {
  local stamp=".venv/.installed-$1"
  [ -f "$stamp" ] && [ ! "requirements/$1.txt" -nt "$stamp" ] && [ ! pyproject.toml -nt "$stamp" ]
}
