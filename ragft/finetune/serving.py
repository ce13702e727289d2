"""Serving adapters on an inference engine (vLLM, TGI): check what the engine serves, export adapters for it.

- `check_engine(registry, generator)`: compares the registry with the remote server's `/v1/models`. A servable
  adapter the engine does not list is *missing* (ft/hybrid would fail on it); a tainted, unapproved adapter the
  engine still lists is *stale*: ragft never requests it, but anyone who can reach the engine still can, so the
  operator must unload it (vLLM: `POST /v1/unload_lora_adapter`; TGI: restart without it). `ragft serve` with
  `kind = "openai"` refuses to start on a missing adapter and warns about each stale one.
- `export_adapters(registry, names, out_dir)`: copies each servable adapter as a clean PEFT folder (only
  `adapter_config.json` and the weights: no checkpoints, run state or training data) and writes
  `serve-commands.txt` with the exact vLLM and TGI command lines. Tainted adapters are never exported or named.
  The folder is built under a temp name next to `out_dir` and renamed into place, so a crash leaves no half export.
"""

from __future__ import annotations

import json
import shlex
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ragft.errors import ConfigError, NotFoundError
from ragft.finetune.registry import AdapterInfo, AdapterRegistry

COMMANDS_FILE = "serve-commands.txt"
WEIGHT_FILES = ("adapter_model.safetensors",)  # safetensors only: no pickle crosses to the engine (LLM03)


class ModelLister(Protocol):
    """What the check needs of a remote generator (`OpenAIGenerator`)."""

    base_url: str

    def list_models(self) -> list[str]: ...


@dataclass
class EngineCheck:
    """Result of `check_engine` (`to_dict()` is the JSON of `ragft adapters check`)."""

    url: str
    listed: list[str]
    served: list[dict[str, str]] = field(default_factory=list)   # {"adapter", "served"} listed and servable
    missing: list[dict[str, str]] = field(default_factory=list)  # {"adapter", "served", "path"} servable, not listed
    stale: list[dict[str, str]] = field(default_factory=list)    # {"adapter", "served"} tainted but still listed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def missing_error(self) -> str:
        """One line naming every `--lora-modules` entry the engine lacks ("" when none)."""
        if not self.missing:
            return ""
        entries = " ".join(f"{m['served']}={m['path']}" for m in self.missing)
        names = ", ".join(m["adapter"] for m in self.missing)
        return (f"{self.url} does not serve adapter(s) {names}; restart it with `--enable-lora --lora-modules {entries}` "
                f"(vLLM; TGI: `--lora-adapters {entries.replace(' ', ',')}`), see `ragft adapters export`")

    def stale_warnings(self) -> list[str]:
        """One line per tainted adapter the engine still serves, with the command that unloads it."""
        return [f"{self.url} still serves tainted adapter {s['adapter']} as {s['served']!r}: ragft never requests it, "
                f"but unload it from the engine: {unload_command(self.url, s['served'])}" for s in self.stale]


def unload_command(base_url: str, served: str) -> str:
    """vLLM's runtime unload (the engine must run with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True); else restart the
    engine without the adapter's `--lora-modules` entry."""
    body = json.dumps({"lora_name": served})
    return f"curl -X POST {base_url.rstrip('/')}/unload_lora_adapter -H 'Content-Type: application/json' -d {shlex.quote(body)}"


def check_engine(registry: AdapterRegistry, engine: ModelLister) -> EngineCheck:
    """Which registered adapters the engine serves, lacks, or still serves although tainted."""
    listed = engine.list_models()
    have = set(listed)
    result = EngineCheck(url=engine.base_url, listed=listed)
    for info in registry.list():
        if not info.servable:
            if info.served in have:
                result.stale.append({"adapter": info.name, "served": info.served})
        elif info.served in have:
            result.served.append({"adapter": info.name, "served": info.served})
        else:
            result.missing.append({"adapter": info.name, "served": info.served, "path": info.path})
    return result


# ------------------------------------------------------------------ export
@dataclass
class ExportReport:
    """Result of `ragft adapters export` (`to_dict()` is its JSON)."""

    out_dir: str
    adapters: list[dict[str, str]]  # {"adapter", "served", "path"} as exported
    commands_file: str
    vllm: str
    tgi: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def vllm_command(base_model: str, modules: list[tuple[str, str]]) -> str:
    """`vllm serve BASE --enable-lora --lora-modules NAME=PATH ...` (max-lora-rank left at the engine default
    unless an adapter needs more; see `--max-lora-rank`)."""
    entries = " ".join(shlex.quote(f"{n}={p}") for n, p in modules)
    return f"vllm serve {shlex.quote(base_model)} --enable-lora --max-loras {max(1, len(modules))} --lora-modules {entries}"


def tgi_command(base_model: str, modules: list[tuple[str, str]], mount: str) -> str:
    """TGI in its docker image: the export folder mounted at `mount`, `--lora-adapters NAME=PATH,...`."""
    entries = ",".join(f"{n}={mount}/{Path(p).name}" for n, p in modules)
    return (f"docker run --gpus all -p 8080:80 -v {shlex.quote(str(Path(modules[0][1]).parent))}:{mount} "
            f"ghcr.io/huggingface/text-generation-inference --model-id {shlex.quote(base_model)} "
            f"--lora-adapters {shlex.quote(entries)}")


def _selected(registry: AdapterRegistry, names: list[str], all_: bool) -> list[AdapterInfo]:
    if all_ == bool(names):
        raise ConfigError("name the adapters to export, or pass --all (not both)")
    if all_:
        chosen = registry.servable()
        if not chosen:
            raise NotFoundError("no servable adapter to export (none trained, or all tainted by erasure)")
        return chosen
    return [registry.get_servable(n) for n in dict.fromkeys(names)]  # AccessDenied for a tainted one


def _clean_copy(info: AdapterInfo, dest: Path, base_model: str | None) -> None:
    """adapter_config.json + safetensors weights only; refuses a folder that lacks them."""
    src = Path(info.path)
    config = src / "adapter_config.json"
    weights = [src / w for w in WEIGHT_FILES if (src / w).is_file()]
    if not config.is_file() or not weights:
        raise NotFoundError(f"adapter {info.name}: {src} has no adapter_config.json + adapter_model.safetensors; "
                            f"retrain it with `ragft finetune --retrain {info.name}`")
    dest.mkdir(parents=True)
    cfg = json.loads(config.read_text(encoding="utf-8"))
    cfg["inference_mode"] = True
    if base_model:
        cfg["base_model_name_or_path"] = base_model
    (dest / "adapter_config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    for w in weights:
        shutil.copyfile(w, dest / w.name)


def export_adapters(registry: AdapterRegistry, names: list[str], out_dir: str | Path, *, all_: bool = False,
                    base_model: str | None = None) -> ExportReport:
    """Export servable adapters to `out_dir/<served>/` plus `serve-commands.txt`; see the module docstring.

    `base_model`: the Hugging Face id or folder the engine loads (default: the adapters' recorded base model;
    the bundled GGUF names are not loadable by vLLM, so pass the HF id, e.g. HuggingFaceTB/SmolLM2-135M-Instruct).
    """
    chosen = _selected(registry, names, all_)
    out = Path(out_dir).resolve()
    if out.exists():
        raise ConfigError(f"{out} already exists; export into a new folder (it is replaced as a whole, never merged)")
    bases = {info.base_model for info in chosen}
    if base_model is None and len(bases) > 1:
        raise ConfigError(f"the adapters have different base models ({', '.join(sorted(bases))}); export them separately")
    from ragft.models.weights import HUB_IDS

    recorded = next(iter(bases))
    base = base_model or HUB_IDS.get(recorded, recorded)
    served = [info.served for info in chosen]
    if len(set(served)) != len(served):
        raise ConfigError(f"two adapters share a served name ({', '.join(served)}); fix it with `ragft adapters serve-name`")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        modules: list[tuple[str, str]] = []
        for info in chosen:
            folder = info.served.replace("/", "__")  # a served name may hold '/', a folder name may not
            _clean_copy(info, tmp / folder, base)
            modules.append((info.served, str(out / folder)))
        vllm, tgi = vllm_command(base, modules), tgi_command(base, modules, "/adapters")
        (tmp / COMMANDS_FILE).write_text(
            "# Generated by `ragft adapters export`. Only adapters that may be served are here (none trained on\n"
            "# erased data). Point ragft at the engine: [generator] kind = \"openai\", base_url = \"http://HOST:8000/v1\",\n"
            f"# model = \"{base}\".\n\n# vLLM\n{vllm}\n\n# TGI (docker)\n{tgi}\n", encoding="utf-8")
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ExportReport(out_dir=str(out), commands_file=str(out / COMMANDS_FILE), vllm=vllm, tgi=tgi,
                        adapters=[{"adapter": i.name, "served": i.served, "path": p} for i, (_, p) in zip(chosen, modules)])

