#!/usr/bin/env bash
# Healthcare notes (hybrid + compliance) on clearly FAKE patient records: PII masked at ingest, care-team
# groups, retrieval + a RAFT adapter that writes a structured summary, compare, advise, and `forget --subject`.
# Offline, CPU only. Expected run time: see README.md ("Run time").
# Uses the `ragft` CLI at $RAGFT (default: .venv/bin/ragft, else ragft on PATH); WS=dir keeps the workspace;
# EPOCHS=n trains longer (default 1: 16 rows, batch 4 -> ~4 optimiser steps).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/../lib.sh" healthcare   # sets ROOT, RAGFT, PY, WS, START, step(); offline env
EPOCHS="${EPOCHS:-1}"
hits_of() {  # count search hits whose source is records/<ID>.md, from `ragft search --json` on stdin
  "$PY" -c 'import json, sys; print(sum(h["source"].endswith("/" + sys.argv[1] + ".md") for h in json.load(sys.stdin)["hits"]))' "$1"
}

step "1. ingest 12 synthetic records: subject = patient id, group = care team, [pii] policy = mask"
echo "   (per record this is: ragft ingest records/P001.md --group cardiology --subject P001)"
"$PY" "$HERE/ingest_records.py" "$WS"

step "2. what the index holds: contact details are masked"
"$RAGFT" search "Maria Okafor contact phone" -k 1 -w "$WS"

step "3. care-team access: a cardiologist and an endocrinology nurse"
"$RAGFT" users add dr-lee --groups cardiology -w "$WS" >/dev/null && echo "user dr-lee (cardiology)"
"$RAGFT" users add nurse-kim --groups endocrinology -w "$WS" >/dev/null && echo "user nurse-kim (endocrinology)"
echo "dr-lee searching 'patient P002 diagnosis' -> P002 hits: $("$RAGFT" search "patient P002 diagnosis" --user dr-lee --json -w "$WS" | hits_of P002)"
echo "nurse-kim searching the same        -> P002 hits: $("$RAGFT" search "patient P002 diagnosis" --user nurse-kim --json -w "$WS" | hits_of P002) (cardiology records are never returned to her)"

step "4. train a RAFT adapter: structured summaries from the right record among distractors"
"$RAGFT" finetune --name care-summary --raft --data "$HERE/train.jsonl" --exclude-qa "$HERE/heldout.jsonl" \
  --epochs "$EPOCHS" --batch-size 4 -w "$WS"

step "5. a held-out patient, asked as the care team (hybrid = retrieval + the RAFT adapter)"
"$RAGFT" ask "Write the structured summary for patient P003." --strategy hybrid --adapter care-summary --user dr-lee -w "$WS"

step "6. compare base, rag and hybrid on 8 held-out questions (4 patients never trained on)"
rc=0
"$RAGFT" compare --qa "$HERE/heldout.jsonl" --strategies base,rag,hybrid --hybrid-adapter care-summary \
  --report "$WS/report" -w "$WS" || rc=$?
[ "$rc" -le 1 ] || exit "$rc"   # 1 = partial (a strategy skipped or a question failed): still report it

step "7. advise: records change daily, HIPAA + GDPR, wrong answers are costly"
"$RAGFT" advise --update-frequency daily --docs 5000 --queries-per-day 200 --precision high --citations \
  --compliance hipaa,gdpr --from-report "$WS/report" -w "$WS"

step "8. right to erasure: forget patient P002 (the adapter was trained on that record)"
"$RAGFT" forget --subject P002 -w "$WS"
echo "P002 hits after forget: hybrid $("$RAGFT" search "patient P002 atrial fibrillation apixaban" --json -w "$WS" | hits_of P002)," \
     "bm25 $("$RAGFT" search "P002 apixaban" --mode bm25 --json -w "$WS" | hits_of P002)," \
     "dense $("$RAGFT" search "atrial fibrillation apixaban" --mode dense --json -w "$WS" | hits_of P002)"
"$RAGFT" adapters list -w "$WS"
"$RAGFT" audit verify -w "$WS"

echo
echo "report: $WS/report/index.html   workspace: $WS   total: $((SECONDS - START)) s"
