"""Every command's error path in the user's format (issue #21 items 2-4).

Under `--json` an error is one JSON object on stdout, `{"error": {"type", "message", "hint"}}`, with the same exit
code as in text mode (2 usage/config, 1 partial failure); in text mode it is one `error:` line on stderr and stdout
stays empty. `ERROR_CASES` must name one failing invocation per command: a new command without one fails
`test_every_command_has_an_error_case`. Listing commands never create the workspace.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from ragft.cli import app

# command -> arguments that make it fail with a RagftError (before any model loads). "{file}" is a plain file
# passed as the workspace: every command that opens a workspace refuses it with a config error.
ERROR_CASES: dict[str, list[str]] = {
    "ingest": ["/no/such/path"],
    "search": ["x", "--mode", "nosuchmode"],
    "documents": ["-w", "{file}"],
    "delete": ["no-such-doc"],
    "reembed": ["-w", "{file}"],
    "compare": ["-w", "{file}"],
    "ask": ["q", "--strategy", "nosuchstrategy"],
    "finetune": [],  # no --name
    "forget": ["--subject", "s1", "-w", "{file}"],
    "advise": ["--precision", "sky-high"],
    "serve": ["-w", "{file}"],
    "eval retrieval": ["--beir", "/no/such/beir"],
    "sources add-sql": ["bad name!", "sqlite:///x.sqlite"],
    "sources list": ["-w", "{file}"],
    "sources remove": ["never-added"],
    "quarantine list": ["-w", "{file}"],
    "quarantine approve": ["no-such-doc"],
    "store copy": ["--to", "postgresql://nobody@127.0.0.1:9/x", "-w", "{file}"],
    "store migrate": ["-w", "{file}"],
    "models list": ["-w", "{file}"],
    "models install": ["no-such-model"],
    "adapters list": ["-w", "{file}"],
    "adapters approve": ["no-such-adapter"],
    "adapters serve-name": ["no-such-adapter", "served-x"],
    "adapters export": ["no-such-adapter", "export-dir"],
    "adapters check": ["-w", "{file}"],
    "users add": ["bad name!"],
    "users list": ["-w", "{file}"],
    "users revoke": ["nobody"],
    "audit verify": ["-w", "{file}"],
    "audit export": ["-w", "{file}"],
}


def _leaf_commands() -> list[str]:
    names: list[str] = []

    def walk(cmd, path):  # type: ignore[no-untyped-def]
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, [*path, name])
        else:
            names.append(" ".join(path))

    walk(typer.main.get_command(app), [])
    return names


def _args(command: str, extra: list[str], tmp_path: Path) -> list[str]:
    bad_ws = tmp_path / "not-a-folder"
    bad_ws.write_text("x", encoding="utf-8")
    return [*command.split(), *[a.replace("{file}", str(bad_ws)) for a in extra]]


def test_every_command_has_an_error_case():
    assert sorted(_leaf_commands()) == sorted(ERROR_CASES)


@pytest.mark.parametrize("command", sorted(ERROR_CASES))
def test_error_is_one_json_object_under_json(command, tmp_path):
    args = _args(command, ERROR_CASES[command], tmp_path)
    text = CliRunner().invoke(app, args)
    res = CliRunner().invoke(app, [*args, "--json"])
    assert res.exit_code == text.exit_code, (res.output, text.output)
    assert res.exit_code in (1, 2), res.output
    data = json.loads(res.stdout)  # exactly one JSON document, nothing else on stdout
    assert set(data) == {"error"}
    err = data["error"]
    assert {"type", "message", "hint"} <= set(err)
    assert err["type"] and err["message"] and err["hint"]
    assert err["type"] not in ("Exception", "RuntimeError", "AttributeError", "TypeError"), err  # a real error, not a bug
    assert err["exit_code"] == res.exit_code
    # Text mode: nothing on stdout, the `error:` line last on stderr.
    assert text.stdout == ""
    assert text.stderr.strip().splitlines()[-1].startswith("error: "), text.stderr


@pytest.mark.parametrize("command", sorted(ERROR_CASES))
def test_usage_error_is_json_too(command):
    res = CliRunner().invoke(app, [*command.split(), "--no-such-flag", "--json"])
    assert res.exit_code == 2
    err = json.loads(res.stdout)["error"]
    assert err["type"] == "NoSuchOption" and "--no-such-flag" in err["message"]
    assert "--help" in err["hint"]


def test_missing_argument_and_unknown_command_under_json():
    for args in (["ask", "--json"], ["nosuchcommand", "--json"]):
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 2
        assert json.loads(res.stdout)["error"]["message"]


# `finetune --search --objective`: each bad combination is one error line (exit 2, config/usage), found before the
# workspace is opened. "{empty}" / "{binary}" / "{qa}" are an empty, a non-UTF-8 and a good QA file.
SEARCH_OBJECTIVE_CASES: dict[str, tuple[list[str], str]] = {
    "f1 without --qa": (["--objective", "f1"], "--objective f1 needs --qa"),
    "missing --qa file": (["--objective", "f1", "--qa", "/no/such/held.jsonl"], "not found"),
    "empty --qa file": (["--objective", "f1", "--qa", "{empty}"], "no questions"),
    "unreadable --qa file": (["--objective", "f1", "--qa", "{binary}"], "unreadable"),
    "--qa folder": (["--objective", "f1", "--qa", "{folder}"], "is a folder"),
    "--qa without f1": (["--qa", "{qa}"], "--qa is the held-out file of --objective f1"),
    "--qa with loss": (["--objective", "loss", "--qa", "{qa}"], "--qa is the held-out file of --objective f1"),
    "unknown objective": (["--objective", "bleu"], "--objective 'bleu' is unknown; choose from loss"),
    "--objective without --search": (["--objective", "f1", "--qa", "{qa}", "--no-search"], "add --search"),
}


@pytest.mark.parametrize("case", sorted(SEARCH_OBJECTIVE_CASES))
def test_search_objective_errors(case, tmp_path):
    extra, says = SEARCH_OBJECTIVE_CASES[case]
    files = {"{empty}": tmp_path / "empty.jsonl", "{binary}": tmp_path / "binary.jsonl", "{qa}": tmp_path / "qa.jsonl",
             "{folder}": tmp_path}
    files["{empty}"].write_text("\n", encoding="utf-8")
    files["{binary}"].write_bytes(b'{"question": "\xff\xfe", "answer": "x"}\n')
    files["{qa}"].write_text('{"question": "What colour?", "answer": "Red."}\n', encoding="utf-8")
    ws = tmp_path / "ws"
    args = ["finetune", "--name", "s", "--data", str(files["{qa}"]), "--search",
            *[str(files.get(a, a)) for a in extra], "-w", str(ws)]
    if "--no-search" in args:
        args = [a for a in args if a not in ("--search", "--no-search")]
    text = CliRunner().invoke(app, args)
    assert text.exit_code == 2, text.output
    errors = [ln for ln in text.stderr.splitlines() if ln.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: ") and says in errors[0], text.stderr
    res = CliRunner().invoke(app, [*args, "--json"])
    assert res.exit_code == 2 and says in json.loads(res.stdout)["error"]["message"]
    assert not ws.exists()  # refused before the workspace is opened: nothing written


def test_ingest_missing_path_is_a_usage_error_and_ingests_nothing(tmp_path):
    good = tmp_path / "a.txt"
    good.write_text("hello world", encoding="utf-8")
    ws = tmp_path / "ws"
    res = CliRunner().invoke(app, ["ingest", str(good), str(tmp_path / "typo.txt"), "-w", str(ws)])
    assert res.exit_code == 2
    assert "typo.txt" in res.stderr and "no such file" in res.stderr
    assert not ws.exists()  # checked before the workspace is opened: nothing half-done


LISTING = [["models", "list"], ["adapters", "list"], ["documents"], ["sources", "list"], ["users", "list"],
           ["audit", "export"], ["advise", "--docs", "10"], ["--help"], ["models", "--help"]]


@pytest.mark.parametrize("args", LISTING, ids=lambda a: " ".join(a))
def test_listing_does_not_create_the_workspace(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RAGFT_WORKSPACE", raising=False)
    for json_flag in ([], ["--json"]) if "--help" not in args else ([],):
        res = CliRunner().invoke(app, [*args, *json_flag])
        assert res.exit_code == 0, res.output
    assert list(tmp_path.iterdir()) == []  # no ./ragft-workspace/ragft.toml


def test_a_listing_of_a_missing_workspace_warns_and_verifying_one_is_an_error(tmp_path):
    """A mistyped -w listed as an empty knowledge base with no word, and `audit verify` said "audit log ok: 0
    record(s)" for a workspace that does not exist: a security check passing on nothing."""
    missing = tmp_path / "typo"
    res = CliRunner().invoke(app, ["documents", "-w", str(missing), "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout) == {"documents": []}, res.output
    assert res.stderr.startswith(f"warning: no workspace at {missing} (nothing to list"), res.stderr
    for json_flag in ([], ["--json"]):
        res = CliRunner().invoke(app, ["audit", "verify", "-w", str(missing), *json_flag])
        assert res.exit_code == 2 and "audit log ok" not in res.stdout and '"ok"' not in res.stdout, res.output
        assert f"no workspace at {missing}: no audit log to verify" in (res.stderr + res.stdout)
    res = CliRunner().invoke(app, ["models", "list", "-w", str(missing)])
    assert res.exit_code == 0 and "warning" not in res.stderr  # the bundled models are listed with or without one
    assert not missing.exists()


def test_listing_an_existing_workspace_still_reads_it(tmp_path, hash_embedder):
    from ragft.workspace import Workspace

    doc = tmp_path / "a.txt"
    doc.write_text("The warehouse opens at nine.", encoding="utf-8")
    with Workspace(tmp_path / "ws", embedder=hash_embedder) as ws:
        ws.ingest([doc])
    res = CliRunner().invoke(app, ["documents", "-w", str(tmp_path / "ws"), "--json"])
    assert res.exit_code == 0
    assert [d["source"] for d in json.loads(res.stdout)["documents"]] == [str(doc)]


def test_a_reading_command_on_a_missing_workspace_warns_and_an_unknown_subject_is_named(tmp_path):
    """A mistyped -w used to read as an empty knowledge base with no word about it, and `forget` of a subject
    nobody ingested printed "erased 0 document(s)" alone. Both still succeed (exit 0: nothing to find, nothing to
    erase), with one warning line on stderr; stdout stays the result (JSON under --json)."""
    from typer.testing import CliRunner

    from ragft.cli import app

    missing = tmp_path / "typo"
    res = CliRunner().invoke(app, ["search", "hello", "-w", str(missing), "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout) == {"hits": []}, res.output
    assert res.stderr.startswith(f"warning: no workspace at {missing} yet"), res.stderr
    res = CliRunner().invoke(app, ["search", "hello", "-w", str(missing), "--json"])  # it exists now
    assert res.exit_code == 0 and "no workspace" not in res.stderr
    res = CliRunner().invoke(app, ["forget", "--subject", "nobody", "-w", str(missing)])
    assert res.exit_code == 0 and res.stdout.startswith("erased 0 document(s)")
    assert "no document of subject 'nobody' here: nothing was erased" in res.stderr


def test_the_console_script_says_the_librarys_notices_on_stderr(capsys):
    """`ragft` (the console script's `main`) shows INFO notices, TTY or not: the first start's ~30 s GGUF
    conversion is logged at INFO, which Python's default drops, so a first `ragft ask` in a script sat silent."""
    import logging

    from ragft.cli_errors import notices_to_stderr

    logger = logging.getLogger("ragft")
    saved = (list(logger.handlers), logger.level)
    logger.handlers.clear()
    try:
        logging.getLogger("ragft.models.weights").info("converting %s (first start only)", "model.gguf")
        assert capsys.readouterr().err == ""  # a library caller's default: INFO is not shown
        notices_to_stderr()
        notices_to_stderr()  # once: a second call adds no second handler
        logging.getLogger("ragft.models.weights").info("converting %s (first start only)", "model.gguf")
        logging.getLogger("other").info("not ours")
        assert capsys.readouterr().err == "ragft: converting model.gguf (first start only)\n"
    finally:
        logger.handlers[:] = saved[0]
        logger.setLevel(saved[1])


def test_an_empty_query_is_a_usage_error_as_an_empty_question_is(tmp_path):
    """`ragft search ""` printed "no results" (exit 0) where `ragft ask ""` exits 2."""
    for args in (["search", "  "], ["ask", ""]):
        res = CliRunner().invoke(app, [*args, "-w", str(tmp_path / "ws")])
        assert res.exit_code == 2 and "is empty" in res.stderr, (args, res.output)
    assert not (tmp_path / "ws").exists()  # refused before the workspace is opened


def test_an_ingest_that_finds_nothing_says_so(tmp_path, monkeypatch):
    """`ragft ingest EMPTY_FOLDER` printed "added 0, ..., skipped 0" alone, as if it had worked; a folder of
    unsupported files only listed them as skipped. Both stay exit 0 (nothing failed), with one warning line."""
    from tests.fakes import HashEmbedder

    monkeypatch.setattr("ragft.models.embedder.load_embedder", lambda settings: HashEmbedder())
    empty = tmp_path / "empty"
    empty.mkdir()
    res = CliRunner().invoke(app, ["ingest", str(empty), "-w", str(tmp_path / "ws"), "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["added"] == 0, res.output
    assert f"warning: no files found under {empty}; nothing was ingested" in res.stderr
    pics = tmp_path / "pics"
    pics.mkdir()
    (pics / "a.png").write_bytes(b"\x89PNG\r\n")
    res = CliRunner().invoke(app, ["ingest", str(pics), "-w", str(tmp_path / "ws")])
    assert res.exit_code == 0 and "every file under" in res.stderr and "(.png; supported: " in res.stderr
    doc = tmp_path / "a.txt"
    doc.write_text("The warehouse opens at nine.", encoding="utf-8")
    res = CliRunner().invoke(app, ["ingest", str(doc), str(pics), "-w", str(tmp_path / "ws")])
    assert res.exit_code == 0 and "warning" not in res.stderr  # something was ingested: no warning
