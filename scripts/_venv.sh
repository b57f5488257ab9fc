# Sourced by scripts/serve, scripts/test and .ci/run, then called as `ensure_venv` or
# `ensure_venv test`: make ./.venv and install the project into it (with the test extra
# when asked), only when pyproject.toml changed. A function, not `source _venv.sh ARG`:
# a script sourced without arguments sees its caller's ("--port 9000" became an extra).
ensure_venv() {
  local extra="${1:-}"
  local python="${PYTHON:-python3}"
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "Python 3.11 or newer is needed (found: $("$python" --version 2>&1))." >&2
    return 1
  fi
  if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
  fi
  local stamp=".venv/.installed${extra:+-$extra}"
  # The test install holds everything the plain one does.
  if [ -z "$extra" ] && [ -f .venv/.installed-test ] && [ .venv/.installed-test -nt pyproject.toml ]; then
    stamp=.venv/.installed-test
  fi
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "Installing the app${extra:+ and its $extra tools} into ./.venv (first run only)…" >&2
    # pip and setuptools talk a lot (build warnings included): keep it in a log and show
    # it only when the install fails.
    local log=.venv/install.log
    if ! { .venv/bin/python -m pip install --quiet --upgrade pip \
        && .venv/bin/python -m pip install --quiet -e ".${extra:+[$extra]}"; } >"$log" 2>&1; then
      cat "$log" >&2
      echo "Installing into ./.venv failed (the log above is in $log)." >&2
      return 1
    fi
    touch "$stamp"
  fi
}
