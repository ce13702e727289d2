"""Create (or reset) examples/retail/inventory.sqlite: the live inventory table the retail demo queries.

Run: python examples/retail/make_inventory.py [PATH]   (default: inventory.sqlite next to this file)
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

PRODUCTS = [
    ("TR-100", "Trail Runner shoes", 12, 129.00),
    ("CB-200", "City Boot", 5, 159.00),
    ("MS-300", "Merino Socks", 48, 14.50),
    ("RJ-400", "Rain Jacket", 0, 189.00),
    ("DB-500", "Day Backpack", 21, 79.00),
]


def main(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)  # e.g. out/ in a fresh clone
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE inventory (sku TEXT PRIMARY KEY, name TEXT NOT NULL, stock INTEGER NOT NULL, price REAL NOT NULL)")
    con.executemany("INSERT INTO inventory VALUES (?, ?, ?, ?)", PRODUCTS)
    con.commit()
    con.close()
    print(f"wrote {path} ({len(PRODUCTS)} products)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("inventory.sqlite"))
