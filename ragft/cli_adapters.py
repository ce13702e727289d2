"""`ragft adapters serve-name | export | check`: adapters on a remote inference engine (vLLM, TGI).

Commands added to the `adapters` sub-app by `ragft/cli.py` (same conventions: `-w/--workspace`, `--json`, errors
as one stderr line); the work is in `ragft/finetune/serving.py` and the adapter registry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from ragft.cli_admin import JsonOpt, WorkspaceOpt, open_listing, open_workspace
from ragft.cli_views import emit_json, err, out


def remote_engine(ws: Any) -> Any:  # -> OpenAIGenerator
    """The workspace's remote generator, or ConfigError when `[generator] kind` is not "openai"."""
    from ragft.errors import ConfigError

    if ws.settings.generator.kind != "openai":
        raise ConfigError('no remote engine configured: set [generator] kind = "openai" and base_url in ragft.toml')
    return ws.generator


def check_before_serve(ws: Any) -> None:
    """`ragft serve` with a remote generator: refuse to start when the engine lacks a servable adapter, warn (one
    stderr line each) about tainted adapters it still serves. No-op for the bundled generator."""
    from ragft.errors import ConfigError
    from ragft.finetune.serving import check_engine

    if ws.settings.generator.kind != "openai" or not ws.registry.list():
        return
    result = check_engine(ws.registry, ws.generator)
    for line in result.stale_warnings():
        err.print(f"warning: {line}", highlight=False, soft_wrap=True)
    if result.missing:
        raise ConfigError(result.missing_error())


def register(adapters_app: typer.Typer) -> None:
    """Add the remote-serving commands to `ragft adapters`."""

    @adapters_app.command("serve-name")
    def adapters_serve_name(
        name: str = typer.Argument(..., help="Adapter name."),
        served: str = typer.Argument(..., help="The model id the engine serves it under (the NAME of --lora-modules NAME=PATH); the adapter name resets it."),
        workspace: Optional[Path] = WorkspaceOpt,
        json_out: bool = JsonOpt,
    ) -> None:
        """Record the model id a remote engine (vLLM, TGI) serves an adapter under; ft/hybrid send it as `model`."""
        info = open_workspace(workspace).registry.set_served_name(name, served)
        if json_out:
            emit_json({"adapter": info.name, "served": info.served})
        else:
            out.print(f"{info.name} is requested as model {info.served!r} on a remote engine", highlight=False)

    @adapters_app.command("export")
    def adapters_export(
        targets: list[str] = typer.Argument(..., metavar="[NAME]... DIR", help="Adapter names (none with --all), then the new folder to write: one PEFT folder per adapter + serve-commands.txt."),
        all_: bool = typer.Option(False, "--all", help="Export every servable adapter (tainted ones never are)."),
        base_model: Optional[str] = typer.Option(None, "--base-model", help="Model id/folder the engine loads (default: the Hub id of the bundled base, else the recorded base)."),
        workspace: Optional[Path] = WorkspaceOpt,
        json_out: bool = JsonOpt,
    ) -> None:
        """Write clean PEFT folders and the exact vLLM / TGI command lines that serve them (multi-LoRA)."""
        from ragft.finetune.serving import export_adapters

        *names, out_dir = targets
        report = export_adapters(open_listing(workspace).registry, names, out_dir, all_=all_, base_model=base_model)
        if json_out:
            emit_json(report.to_dict())
        else:
            for a in report.adapters:
                out.print(f"exported {a['adapter']} as {a['served']!r} -> {a['path']}", highlight=False)
            out.print(f"\nvLLM:\n  {report.vllm}\nTGI:\n  {report.tgi}\n(also in {report.commands_file})",
                      highlight=False, soft_wrap=True)

    @adapters_app.command("check")
    def adapters_check(workspace: Optional[Path] = WorkspaceOpt, json_out: bool = JsonOpt) -> None:
        """Compare the adapter registry with the remote engine's /v1/models: missing adapters (exit 1) and tainted
        ones it still serves (unload them)."""
        from ragft.finetune.serving import check_engine

        ws = open_listing(workspace)
        result = check_engine(ws.registry, remote_engine(ws))
        if json_out:
            emit_json(result.to_dict())
        else:
            for s in result.served:
                out.print(f"ok       {s['adapter']} as {s['served']!r}", highlight=False)
            for m in result.missing:
                out.print(f"missing  {m['adapter']} as {m['served']!r} (--lora-modules {m['served']}={m['path']})", highlight=False)
            for line in result.stale_warnings():
                out.print(f"TAINTED  {line}", highlight=False, soft_wrap=True)
        if result.missing or result.stale:
            raise typer.Exit(1)
