"""Doc-tests: the documentation cannot rot silently.

(a) docs/configuration.md and docs/cli.md equal what scripts/gen_docs.py generates from the code now;
(b) every relative link in README.md, docs/*.md and examples/*/README.md points at a file that exists;
(c) every `ragft ...` command line in a ```bash / ```sh block of those files parses against the real typer app
    (sub-commands, option names, option values, required arguments), without running anything;
(d) the example scripts (examples/*/run.sh, examples/demo.sh) call only commands and flags that exist.

Parsing uses click's `make_context(..., resilient_parsing=False)` on the leaf command: the same parser the CLI
runs, stopping before the command body, so no model, store or workspace is touched.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest
import typer
from typer.exceptions import TyperException

from ragft.cli import app

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = sorted(
    [p for p in [ROOT / "README.md"] if p.exists()]
    + list((ROOT / "docs").glob("*.md"))
    + list((ROOT / "examples").glob("*/README.md"))
)
SCRIPTS = sorted(list((ROOT / "examples").glob("*/run.sh"))
                 + [p for p in (ROOT / "examples").glob("*.sh") if p.name != "lib.sh"])  # lib.sh: sourced preamble
_OPERATORS = {"|", "||", "&&", ";", "&", ">", ">>", "<", "(", ")", "2>", "2>&1", "$("}
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.M | re.S)
_MENTIONS_RAGFT = re.compile(r"(^|[\s(|;&])\"?(\$\{?RAGFT\}?|\S*/ragft|ragft)\"?(\s|$)")
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# --------------------------------------------------------------------------- (a) generated references
def _gen_docs():
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.mark.parametrize("name", ["configuration.md", "cli.md"])
def test_generated_reference_is_up_to_date(name):
    expected = {path.name: text for path, text in _gen_docs().outputs().items()}[name]
    path = ROOT / "docs" / name
    assert path.exists(), f"docs/{name} missing: run .venv/bin/python scripts/gen_docs.py"
    assert path.read_text(encoding="utf-8") == expected, (
        f"docs/{name} is stale (a setting or command changed): run .venv/bin/python scripts/gen_docs.py"
    )


def test_cli_reference_covers_every_command():
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    root = typer.main.get_command(app)
    for name, cmd in root.commands.items():
        subs = getattr(cmd, "commands", None) or {None: cmd}
        for sub in subs:
            title = f"## ragft {name}" + (f" {sub}" if sub else "")
            assert title + "\n" in text, f"{title!r} missing from docs/cli.md"


# --------------------------------------------------------------------------- (b) links
def _links(path: Path) -> list[str]:
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))  # links inside code blocks are examples, not links
    return _LINK.findall(text)


@pytest.mark.parametrize("doc", DOC_FILES, ids=_rel)
def test_relative_links_resolve(doc):
    broken = []
    for target in _links(doc):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # external URL, mailto:, or an anchor in the same page
        file_part = target.split("#", 1)[0]
        if not (doc.parent / file_part).exists():
            broken.append(target)
    assert not broken, f"{_rel(doc)}: broken relative links {broken}"


# --------------------------------------------------------------------------- (c)/(d) command lines
def _logical_lines(text: str) -> list[str]:
    """Shell lines with backslash continuations joined and comment-only lines dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    return [ln.strip() for ln in joined.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def _tokens(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        return list(lexer)
    except ValueError as exc:  # unbalanced quotes
        raise AssertionError(f"cannot split shell line {line!r}: {exc}") from exc


def _is_ragft(token: str) -> bool:
    return token in ("ragft", "$RAGFT", "${RAGFT}") or token.endswith("/ragft")


def ragft_invocations(text: str, variables: dict[str, str] | None = None) -> list[tuple[str, list[str]]]:
    """Every `ragft ARGS...` in shell text: (the logical line, ARGS with shell variables substituted).

    A command starts at `ragft` (or `$RAGFT`, `.venv/bin/ragft`) in command position, also inside `$( ... )`,
    and ends at the next shell operator (pipe, redirect, `;`, `&&`, `)`).
    """
    variables = variables or {}

    def subst(token: str) -> str:
        return re.sub(r"\$\{?(\w+)\}?", lambda m: variables.get(m.group(1), "X"), token)

    found = []
    for line in _logical_lines(text):
        line = re.sub(r"^\$ ", "", line)  # a prompt sign in docs
        if not _MENTIONS_RAGFT.search(line):
            continue  # only lines that run ragft are tokenised (others may hold multi-line Python etc.)
        tokens = _tokens(re.sub(r"(^|\s)\d>", r"\1>", line.replace("$(", " ( ")))  # `2>` is one operator
        for i, tok in enumerate(tokens):
            command_position = i == 0 or tokens[i - 1] in _OPERATORS or tokens[i - 1].endswith(("|", ";", "(", "&"))
            if not (_is_ragft(tok) and command_position):
                continue
            args = []
            for t in tokens[i + 1:]:
                if t in _OPERATORS or re.fullmatch(r"[|&;<>()]+", t) or re.fullmatch(r"\d?>.*", t):
                    break
                args.append(subst(t))
            found.append((line, args))
    return found


def check_command(args: list[str]) -> str | None:
    """None when `ragft ARGS` parses against the app; else the parser's message."""
    cmd = typer.main.get_command(app)
    path = ["ragft"]
    args = list(args)
    while getattr(cmd, "commands", None):
        if not args or args[0] in ("--help", "-h"):
            return None if args or path != ["ragft"] else "no command given"
        name = args.pop(0)
        if name not in cmd.commands:
            return f"no command {' '.join(path)} {name!r} (have: {', '.join(cmd.commands)})"
        cmd = cmd.commands[name]
        path.append(name)
    if "--help" in args:
        known = {o for p in cmd.params for o in (*p.opts, *getattr(p, "secondary_opts", []))}
        unknown = [a.split("=", 1)[0] for a in args if a.startswith("-") and a.split("=", 1)[0] not in known | {"--help"}]
        return f"{' '.join(path)}: unknown options {unknown}" if unknown else None
    try:
        cmd.make_context(" ".join(path), args, resilient_parsing=False)
    except TyperException as exc:
        return f"{' '.join(path)}: {exc.format_message() if hasattr(exc, 'format_message') else exc}"
    return None


def _doc_commands() -> list[tuple[str, str, list[str]]]:
    out = []
    for doc in DOC_FILES:
        for lang, body in _FENCE.findall(doc.read_text(encoding="utf-8")):
            if lang in ("bash", "sh", "shell", "console"):
                out += [(_rel(doc), line, args) for line, args in ragft_invocations(body)]
    return out


def test_docs_show_ragft_commands_at_all():
    assert len(_doc_commands()) >= 20, "the docs should show real commands; did the fence parsing break?"


@pytest.mark.parametrize("where,line,args", _doc_commands(), ids=lambda v: v if isinstance(v, str) and v.endswith(".md") else None)
def test_documented_command_parses(where, line, args):
    problem = check_command(args)
    assert problem is None, f"{where}: `{line}` -> {problem}"


def _script_defaults(text: str) -> dict[str, str]:
    """Values a script gives its variables: NAME="${NAME:-default}" and plain NAME="value" assignments."""
    values = {m.group(1): m.group(2) for m in re.finditer(r'^\s*(\w+)="\$\{\w+:-([^}]*)\}"', text, re.M)}
    for m in re.finditer(r'^\s*(\w+)="([^"$`]*)"\s*$', text, re.M):
        values.setdefault(m.group(1), m.group(2))
    return values


@pytest.mark.parametrize("script", SCRIPTS, ids=_rel)
def test_example_script_uses_only_existing_commands_and_flags(script):
    text = script.read_text(encoding="utf-8")
    calls = ragft_invocations(text, _script_defaults(text))
    assert calls, f"{_rel(script)} calls no ragft command"
    problems = [f"`{line}` -> {p}" for line, args in calls if (p := check_command(args)) is not None]
    assert not problems, f"{_rel(script)}:\n" + "\n".join(problems)


def test_command_checker_rejects_what_does_not_exist():
    """The checker itself must be able to fail: a wrong command, flag, value or a missing argument."""
    assert check_command(["ask", "What is the return window?", "--strategy", "hybrid", "-k", "3"]) is None
    assert check_command(["eval", "retrieval", "--beir", "data/scifact"]) is None
    assert "no command" in check_command(["teleport"])
    assert "no command" in check_command(["sources", "add-mongo", "x", "y"])
    assert check_command(["ask", "q", "--temperature", "0.2"]) is not None
    assert check_command(["ask", "q", "-k", "many"]) is not None
    assert check_command(["search"]) is not None  # QUERY is required (ask takes QUESTION or --questions)
    assert check_command(["finetune", "--help", "--bogus"]) is not None
    calls = ragft_invocations('n=$("$RAGFT" search "a | b" --json -w "$WS" | jq .)\nragft ask "x" 2>/dev/null', {"WS": "/tmp/w"})
    assert calls == [(calls[0][0], ["search", "a | b", "--json", "-w", "/tmp/w"]), ('ragft ask "x" 2>/dev/null', ["ask", "x"])]


def test_version_flag_prints_the_package_version():
    from typer.testing import CliRunner

    from ragft import __version__

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout == f"ragft {__version__}\n"
