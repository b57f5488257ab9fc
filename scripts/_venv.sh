# Sourced by scripts/serve, scripts/test and .ci/run: make ./.venv and install the
# project into it (with the test extra when asked), only when pyproject.toml changed.
set -euo pipefail
extra="${1:-}"
python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "Python 3.11 or newer is needed (found: $("$python" --version 2>&1))." >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=".venv/.installed${extra:+-$extra}"
# The test install holds everything the plain one does.
[ -z "$extra" ] && [ -f .venv/.installed-test ] && [ .venv/.installed-test -nt pyproject.toml ] \
  && stamp=.venv/.installed-test
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".${extra:+[$extra]}"
  touch "$stamp"
fi
