#!/usr/bin/env bash
# Retail demo: answer from documents and from a live SQL table; an UPDATE shows up in the next answer
# with no re-ingest. Uses the `ragft` CLI at $RAGFT (default: .venv/bin/ragft, else ragft on PATH).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$HERE/../lib.sh" retail   # sets ROOT, RAGFT, PY, WS, START, step(); offline env
DB="$WS/inventory.sqlite"

step "1. create the live inventory table ($DB)"
"$PY" "$HERE/make_inventory.py" "$DB"

step "2. ingest the FAQ and return-policy documents"
"$RAGFT" ingest "$HERE/docs" -w "$WS"

step "3. register the inventory table as a live SQL source"
"$RAGFT" sources add-sql shop "sqlite:///$DB" --table inventory -w "$WS"

step "4. ask a document question"
"$RAGFT" ask "How many days do I have to return an item?" -w "$WS"

step "5. ask the inventory"
"$RAGFT" ask "How many Trail Runner shoes are in stock?" -w "$WS"

step "6. UPDATE the stock in the database (no re-ingest)"
SQL="UPDATE inventory SET stock = 3 WHERE sku = 'TR-100';"
echo "$SQL"
if command -v sqlite3 >/dev/null; then
  sqlite3 "$DB" "$SQL"
else
  "$PY" -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()' "$DB" "$SQL"
fi

step "7. ask again: the answer reflects the live table"
"$RAGFT" ask "How many Trail Runner shoes are in stock?" -w "$WS"

step "8. a question the sources cannot answer"
"$RAGFT" ask "Who founded Northwind Outfitters?" -w "$WS"
echo
echo "workspace: $WS"
