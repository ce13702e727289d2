"""A mixed-format document folder built from code: txt, md, html (with a table), docx (with a table), pdf, csv and
json — about 110 chunks at the default chunk size, for synthesis and `compare --train-missing` tests and for
benchmarks/synth.py. Deterministic for a seed; the facts are invented (a fictional railway company), so no model
can answer from memory.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from tests.docfiles import write_docx, write_pdf

_FIRST = ["Amara", "Bastian", "Corin", "Delia", "Evander", "Fenna", "Gideon", "Halina", "Ivo", "Jorun", "Kasimir",
          "Liora", "Matthis", "Nerea", "Oskar", "Petra", "Quirin", "Rosalind", "Sverre", "Talia"]
_LAST = ["Vantrell", "Okonkwo", "Haldane", "Marchetti", "Solberg", "Quenneville", "Drazic", "Ellery", "Farrow",
         "Ibarra", "Kowalczyk", "Lindqvist", "Moreau", "Nakashima", "Pellegrini", "Rasmussen", "Thorne", "Varga"]
_TOWNS = ["Brackenford", "Elmsworth", "Harrowgate", "Kestrel Bay", "Lowmoor", "Marrowdale", "Northcliff", "Oakhaven",
          "Pinebridge", "Quarry End", "Redwater", "Saltmarsh", "Thornbury", "Upper Vale", "Westerholm", "Yarrow Point"]
_THINGS = ["signal box", "footbridge", "water tower", "engine shed", "goods yard", "viaduct", "tunnel", "turntable"]
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]


def _person(rng: random.Random) -> str:
    return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"


def _fact(rng: random.Random, town: str) -> str:
    """One sentence with a date, a quantity or a name in it."""
    kind = rng.randrange(6)
    thing = rng.choice(_THINGS)
    if kind == 0:
        return f"The {thing} at {town} was built in {rng.randint(1840, 1990)} by the engineer {_person(rng)}."
    if kind == 1:
        return f"Trains from {town} reach the coast in {rng.randint(12, 95)} minutes on the fast service."
    if kind == 2:
        return (f"On {rng.randint(1, 28)} {rng.choice(_MONTHS)} {rng.randint(1900, 2020)} the line through {town} "
                f"was extended by {rng.randint(2, 40)} kilometres.")
    if kind == 3:
        return f"The station master at {town} is {_person(rng)}, who has run the station for {rng.randint(3, 30)} years."
    if kind == 4:
        return f"A day return ticket from {town} costs {rng.randint(3, 48)}.{rng.choice(['00', '50', '95'])} EUR at the counter."
    return f"The {thing} near {town} is a listed structure that draws about {rng.randint(2, 90)} thousand visitors a year."


def _paragraph(rng: random.Random, town: str, n: int = 3) -> str:
    return " ".join(_fact(rng, town) for _ in range(n))


def write_mixed_corpus(root: Path, seed: int = 0) -> Path:
    """Write the folder under `root` and return it. Formats: .txt .md .html .docx .pdf .csv .json."""
    rng = random.Random(seed)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    towns = list(_TOWNS)

    # txt: long prose, several chunks.
    (root / "history.txt").write_text(
        "History of the Vale Railway\n\n" + "\n\n".join(_paragraph(rng, rng.choice(towns), 4) for _ in range(30)) + "\n",
        encoding="utf-8")

    # md: many short sections (one chunk each; the shortest are merged before synthesis).
    md = ["# Station guide", ""]
    for town in towns:
        md += [f"## {town}", "", _paragraph(rng, town, rng.choice([1, 2, 3])), ""]
        md += [f"### Facilities at {town}", "", f"{town} has {rng.randint(1, 6)} platforms.", ""]
    (root / "stations.md").write_text("\n".join(md), encoding="utf-8")

    # html: prose sections and a timetable table.
    rows = "".join(
        f"<tr><td>{t}</td><td>{rng.randint(5, 22):02d}:{rng.choice(['05', '20', '35', '50'])}</td>"
        f"<td>Platform {rng.randint(1, 6)}</td><td>{rng.randint(2, 30)}.{rng.choice(['00', '50'])} EUR</td></tr>"
        for t in towns)
    sections = "".join(f"<h2>Route notes {i}</h2><p>{_paragraph(rng, rng.choice(towns), 3)}</p>" for i in range(8))
    (root / "timetable.html").write_text(
        "<html><head><title>Timetable</title></head><body><h1>Timetable</h1>"
        "<table><tr><th>Destination</th><th>First train</th><th>Platform</th><th>Fare</th></tr>" + rows + "</table>"
        + sections + "</body></html>", encoding="utf-8")

    # docx: policy sections and a table.
    write_docx(
        root / "policies.docx", "Passenger policies",
        [(1, f"Policy {i}", [_paragraph(rng, rng.choice(towns), 2), _paragraph(rng, rng.choice(towns), 2)]) for i in range(10)],
        table=[["Ticket", "Price", "Valid for"]] + [[f"{k} pass", f"{rng.randint(20, 400)} EUR", f"{d} days"]
                                                   for k, d in (("Weekly", 7), ("Monthly", 30), ("Season", 90), ("Annual", 365))],
    )

    # pdf: pages of text lines (pypdf reads them back as paragraphs).
    pages = []
    for _ in range(12):
        lines: list[str] = []
        for _ in range(3):
            lines.extend(_fact(rng, rng.choice(towns)) for _ in range(3))
            lines.append("")
        pages.append(lines)
    write_pdf(root / "annual-report.pdf", pages, title="Annual report")

    # csv: one row per rolling-stock unit.
    header = "unit,class,built,builder,seats,depot"
    body = [f"VR-{100 + i},{rng.choice(['Heron', 'Swift', 'Kite', 'Merlin'])} class,{rng.randint(1960, 2022)},"
            f"{_person(rng)},{rng.randint(40, 320)},{rng.choice(towns)}" for i in range(120)]
    (root / "fleet.csv").write_text("\n".join([header, *body]) + "\n", encoding="utf-8")

    # json: contact records.
    records = [{"office": town, "manager": _person(rng), "phone": f"+44 1{rng.randint(100, 999)} {rng.randint(100000, 999999)}",
                "open": f"{rng.randint(6, 9)}:00-{rng.randint(17, 22)}:00"} for town in towns]
    (root / "offices.json").write_text(json.dumps(records, indent=1), encoding="utf-8")
    return root
