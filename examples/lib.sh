# Sourced by examples/*/run.sh (not run on its own): the shared preamble of the scenario scripts.
#   HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"; . "$HERE/../lib.sh" <scenario>
# Sets ROOT, RAGFT (the CLI: $RAGFT, else .venv/bin/ragft, else ragft on PATH), PY (the project's python),
# WS (the workspace: $WS, else a fresh /tmp/ragft-<scenario>.XXXXXX), START, and `step TEXT`, which prints a
# heading with the seconds since the script started; runs everything offline (no model hub).
ROOT="$(cd "$HERE/../.." && pwd)"
RAGFT="${RAGFT:-$ROOT/.venv/bin/ragft}"
[ -x "$RAGFT" ] || RAGFT="$(command -v ragft)" || { echo "error: no ragft CLI; run \`make install\` first" >&2; exit 2; }
PY="${PY:-$ROOT/.venv/bin/python}"
[ -x "$PY" ] || PY=python3
WS="${WS:-$(mktemp -d "/tmp/ragft-$1.XXXXXX")}"
mkdir -p "$WS"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
START=$SECONDS

step() { printf '\n\033[1m== %s\033[0m  (%ss)\n' "$*" "$((SECONDS - START))"; }
