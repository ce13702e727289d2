#!/usr/bin/env bash
# `make demo`: the main job end to end on the bundled demo data and the bundled models, offline.
# 1. ingest the demo corpus and search it; 2. the retail scenario: RAG answers from documents and a live
# inventory table, a stock UPDATE, and the next answer reflecting it.
set -euo pipefail
cd "$(dirname "$0")/.."
RAGFT=${RAGFT:-.venv/bin/ragft}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
WS=${DEMO_WORKSPACE:-out/demo-workspace}
rm -rf "$WS"

echo "== 1. ingest the demo corpus (examples/demo/corpus) into $WS"
"$RAGFT" ingest examples/demo/corpus -w "$WS"
echo
echo "== search (hybrid BM25 + dense): 'How long do I have to return an item?'"
"$RAGFT" search "How long do I have to return an item?" -k 3 -w "$WS"
echo
echo "== 2. retail scenario (examples/retail): documents + a live SQL inventory table"
RAGFT="$RAGFT" bash examples/retail/run.sh
echo
echo "More scenarios: examples/*/README.md"
