"""Adapters on a remote OpenAI-compatible engine (vLLM/TGI style), against a stub server on 127.0.0.1 (real HTTP).

The stub serves `/v1/models` from a list the test sets and answers chat completions only for a listed model, so a
request for an adapter the engine does not serve fails like a real engine would.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragft.config import GeneratorSettings, Settings, save_settings
from ragft.errors import AccessDenied, ConfigError
from ragft.finetune.registry import AdapterInfo, AdapterRegistry
from ragft.finetune.serving import check_engine, export_adapters
from ragft.models.openai_client import OpenAIGenerator
from tests.loopback import JsonHandler, LoopbackServer

BASE = "base-model"


class Engine:
    """A stub multi-LoRA engine: `models` is what /v1/models lists; every chat request's `model` is recorded."""

    def __init__(self, models: list[str]) -> None:
        self.models = list(models)
        self.chat_models: list[str] = []
        self.model_lists = 0
        engine = self

        class Handler(JsonHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802
                if self.path != "/v1/models":
                    return self._json(404, {"error": {"message": "no route"}})
                engine.model_lists += 1
                return self._json(200, {"object": "list", "data": [
                    {"id": m, "object": "model", "created": 0, "owned_by": "stub"} for m in engine.models]})

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                engine.chat_models.append(body["model"])
                if body["model"] not in engine.models:
                    return self._json(404, {"error": {"message": f"model {body['model']} not found"}})
                return self._json(200, {
                    "id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": "The return window is 30 days."}}],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}})

        self.server = LoopbackServer(Handler)
        self.url = self.server.url

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def engine():
    e = Engine([BASE, "support-ft", "org/raft-v2"])
    yield e
    e.close()


def _register(root: Path, name: str, kind: str, docs: list[str] | None = None) -> AdapterInfo:
    registry = AdapterRegistry(root)
    folder = registry.adapter_dir(name)
    folder.mkdir(parents=True, exist_ok=True)
    return registry.register(AdapterInfo(name=name, path=str(folder), kind=kind, base_model="smollm2-135m",  # type: ignore[arg-type]
                                         lineage={"documents": docs or ["d1"], "dataset_sha256": "x"}))


@pytest.fixture
def remote_ws(tmp_path, engine, hash_embedder):
    """A workspace on the real SQLite store whose generator is the stub engine, with one ft and one raft adapter."""
    from ragft.workspace import Workspace

    settings = Settings()
    settings.generator = GeneratorSettings(kind="openai", model=BASE, base_url=engine.url, max_retries=0)
    (tmp_path / "ws").mkdir()
    save_settings(tmp_path / "ws", settings)
    ws = Workspace(tmp_path / "ws", embedder=hash_embedder, generator=OpenAIGenerator(settings.generator))
    doc = tmp_path / "policy.txt"
    doc.write_text("Returns: you have 30 days to return an item for a full refund.", encoding="utf-8")
    ws.ingest([str(doc)])
    _register(ws.path, "support-ft", "ft", docs=["d-ft"])
    _register(ws.path, "raft1", "raft", docs=["d-raft"])
    ws.registry.set_served_name("raft1", "org/raft-v2")
    yield ws
    ws.close()


def test_each_strategy_sends_its_model(remote_ws, engine):
    q = "How many days do I have to return an item?"
    for strategy in ("base", "rag", "ft", "hybrid"):
        remote_ws.ask(q, strategy=strategy)
    assert engine.chat_models == [BASE, BASE, "support-ft", "org/raft-v2"]
    assert engine.model_lists == 2  # one /v1/models check per served name, not per question


def test_served_name_defaults_to_the_adapter_name_and_resets(tmp_path):
    info = _register(tmp_path, "a1", "ft")
    assert info.served == "a1"
    registry = AdapterRegistry(tmp_path)
    assert registry.set_served_name("a1", "team/a1:v3").served == "team/a1:v3"
    _register(tmp_path, "a1", "ft")  # a retrain keeps the operator's mapping
    assert registry.get("a1").served == "team/a1:v3"
    assert registry.set_served_name("a1", "a1").served_name == ""
    _register(tmp_path, "a2", "ft")
    with pytest.raises(ConfigError, match="already used by adapter 'a1'"):
        registry.set_served_name("a2", "a1")
    with pytest.raises(ConfigError, match="invalid served name"):
        registry.set_served_name("a2", "x=y")


def test_startup_check_names_the_lora_modules_entry(remote_ws, engine):
    engine.models = [BASE]  # the engine was started without --lora-modules
    with pytest.raises(ConfigError) as err:
        remote_ws.ask("How many days do I have to return an item?", strategy="hybrid")
    msg = str(err.value)
    path = remote_ws.registry.get("raft1").path
    assert "\n" not in msg and f"--lora-modules org/raft-v2={path}" in msg and "ragft adapters serve-name raft1" in msg
    assert engine.chat_models == []  # refused before any question was sent


def test_a_tainted_adapter_is_never_requested(remote_ws, engine):
    assert remote_ws.registry.mark_tainted(["d-ft"]) == ["support-ft"]
    with pytest.raises(AccessDenied, match="erased"):
        remote_ws.ask("How long?", strategy="ft", adapter="support-ft")
    with pytest.raises(ConfigError) as err:  # the only ft adapter is tainted: skipped, not picked
        remote_ws.ask("How long?", strategy="ft")
    # ... and the error says so, with both ways out, instead of "this workspace has none"
    msg = str(err.value)
    assert "(support-ft) was trained on erased documents" in msg and "has no ft adapter" not in msg
    assert "ragft finetune --retrain support-ft" in msg and "ragft adapters approve support-ft" in msg
    gen = remote_ws.generator  # the generator itself refuses it too (an adapter tainted while a server runs)
    with pytest.raises(AccessDenied):
        gen.generate([{"role": "user", "content": "hi"}], adapter=remote_ws.registry.get("support-ft").path)
    assert "support-ft" not in engine.chat_models


def test_check_engine_reports_missing_and_stale(remote_ws, engine):
    remote_ws.registry.mark_tainted(["d-ft"])
    engine.models = [BASE, "support-ft"]  # tainted one still loaded, raft1 missing
    result = check_engine(remote_ws.registry, remote_ws.generator)
    assert [m["adapter"] for m in result.missing] == ["raft1"]
    assert result.stale == [{"adapter": "support-ft", "served": "support-ft"}]
    assert "unload_lora_adapter" in result.stale_warnings()[0] and '"lora_name": "support-ft"' in result.stale_warnings()[0]
    assert "--lora-modules org/raft-v2=" in result.missing_error()


def test_serve_refuses_to_start_when_the_engine_lacks_an_adapter(remote_ws, engine):
    from ragft.cli import app

    engine.models = [BASE, "support-ft"]
    res = CliRunner().invoke(app, ["serve", "-w", str(remote_ws.path), "--json"])
    assert res.exit_code == 2, res.output
    error = json.loads(res.stdout)["error"]
    assert "--lora-modules org/raft-v2=" in error["message"]


def test_adapters_check_and_serve_name_commands(remote_ws, engine):
    from ragft.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["adapters", "check", "-w", str(remote_ws.path), "--json"])
    assert res.exit_code == 0, res.output
    assert sorted(s["served"] for s in json.loads(res.stdout)["served"]) == ["org/raft-v2", "support-ft"]
    res = runner.invoke(app, ["adapters", "serve-name", "support-ft", "support-v9", "-w", str(remote_ws.path), "--json"])
    assert json.loads(res.stdout) == {"adapter": "support-ft", "served": "support-v9"}
    res = runner.invoke(app, ["adapters", "check", "-w", str(remote_ws.path), "--json"])
    assert res.exit_code == 1 and json.loads(res.stdout)["missing"][0]["served"] == "support-v9"


# ------------------------------------------------------------------ export
def _real_adapter(tiny_model_dir: Path, out: Path, seed: int) -> None:
    """A real PEFT LoRA adapter of the tiny model with non-zero B weights (so loading it changes the output)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                  init_lora_weights=False))
    peft_model.save_pretrained(str(out))
    (out / "checkpoint-1").mkdir()  # run leftovers an export must not copy
    (out / "checkpoint-1" / "optimizer.pt").write_bytes(b"not for the engine")


def test_export_writes_loadable_peft_folders_and_commands_without_tainted(tmp_path, tiny_model_dir):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    registry = AdapterRegistry(tmp_path / "ws")
    for seed, (name, doc) in enumerate([("good-ft", "d1"), ("bad-ft", "d2")]):
        info = _register(tmp_path / "ws", name, "ft", docs=[doc])
        _real_adapter(tiny_model_dir, Path(info.path), seed)
    registry.set_served_name("good-ft", "team/good")
    registry.mark_tainted(["d2"])

    with pytest.raises(AccessDenied):
        export_adapters(registry, ["bad-ft"], tmp_path / "never")
    assert not (tmp_path / "never").exists()
    report = export_adapters(registry, [], tmp_path / "export", all_=True, base_model=str(tiny_model_dir))
    out = tmp_path / "export"
    assert [a["adapter"] for a in report.adapters] == ["good-ft"]
    assert sorted(p.name for p in out.iterdir()) == ["serve-commands.txt", "team__good"]
    assert sorted(p.name for p in (out / "team__good").iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    commands = (out / "serve-commands.txt").read_text(encoding="utf-8")
    assert f"--enable-lora --max-loras 1 --lora-modules team/good={out / 'team__good'}" in commands
    assert "--lora-adapters team/good=/adapters/team__good" in commands
    assert "bad-ft" not in commands and not any(tmp_path.glob(".export.*"))  # no temp folder left
    with pytest.raises(ConfigError, match="already exists"):
        export_adapters(registry, ["good-ft"], out)

    ids = torch.tensor([[1, 2, 3, 4, 5]])
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).eval()
    with torch.no_grad():
        plain = base(ids).logits
    exported = PeftModel.from_pretrained(base, str(out / "team__good")).eval()
    original = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).eval(),
                                         str(registry.get("good-ft").path)).eval()
    with torch.no_grad():
        got, want = exported(ids).logits, original(ids).logits
    assert torch.allclose(got, want) and not torch.allclose(got, plain)


def test_export_cli_with_names_and_errors(tmp_path, tiny_model_dir):
    from ragft.cli import app

    ws = tmp_path / "ws"
    info = _register(ws, "one", "ft")
    _real_adapter(tiny_model_dir, Path(info.path), 0)
    runner = CliRunner()
    res = runner.invoke(app, ["adapters", "export", "one", str(tmp_path / "out"), "-w", str(ws), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["adapters"][0]["served"] == "one" and data["vllm"].startswith("vllm serve HuggingFaceTB/SmolLM2-135M-Instruct")
    res = runner.invoke(app, ["adapters", "export", str(tmp_path / "out2"), "-w", str(ws), "--json"])
    assert res.exit_code == 2 and "--all" in json.loads(res.stdout)["error"]["message"]
