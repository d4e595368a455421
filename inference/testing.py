"""Tiny real models and SAEs for tests, benchmarks and the offline demo.

Everything here is real: a byte-level BPE tokenizer trained with ``tokenizers`` in milliseconds,
a ``HookedTransformer`` built from a ``HookedTransformerConfig`` with random weights, and sae_lens
SAEs built from their config classes. They are saved in the same local folder formats that the
loaders in ``inference/loading.py`` read, so tests exercise the real loading code:

- model folder: ``config.json`` (``HookedTransformerConfig.to_dict()``, JSON-safe),
  ``model.safetensors`` (state dict) and the tokenizer files written by ``save_pretrained``;
- SAE folder: sae_lens ``sae.save_model(folder)`` output (``cfg.json`` + weights).

torch and friends are imported inside the functions: importing this module is cheap.
"""

from __future__ import annotations

import json
from pathlib import Path

BOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"
CHAT_TOKENS = ["<|user|>", "<|assistant|>", "<|end|>"]
# A minimal chat template for tiny "instruct" models (steer-chat tests).
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'user' %}<|user|>{% else %}<|assistant|>{% endif %}"
    "{{ message['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def _corpus() -> list[str]:
    from pydoc_data.topics import topics

    return [topics[key] for key in sorted(topics)]


def build_tokenizer(folder: Path, *, vocab_size: int = 512):
    """Train a byte-level BPE tokenizer, save it with ``save_pretrained(folder)`` and return the
    copy LOADED BACK from the folder (TransformerLens's ``set_tokenizer`` reloads a tokenizer by its
    ``name_or_path``, so it must point at a real folder). BOS/EOS is id 1, not 0: circuit-tracer
    prepends the first *truthy* special id as BOS."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD_TOKEN, BOS_TOKEN, *CHAT_TOKENS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    assert tok.token_to_id(BOS_TOKEN) == 1
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS_TOKEN,
        eos_token=BOS_TOKEN,
        unk_token=BOS_TOKEN,
        pad_token=PAD_TOKEN,
        additional_special_tokens=CHAT_TOKENS,
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(str(folder))
    return AutoTokenizer.from_pretrained(str(folder))


def build_tiny_model(
    folder: Path,
    *,
    n_layers: int = 2,
    d_model: int = 32,
    n_heads: int = 4,
    d_mlp: int | None = None,
    n_ctx: int = 256,
    vocab_size: int = 512,
    act_fn: str = "gelu",
    normalization_type: str = "LN",
    seed: int = 0,
) -> Path:
    """Build a random-weight HookedTransformer with a freshly trained tokenizer and save it as a
    local model folder. Returns ``folder``."""
    import torch
    from safetensors.torch import save_file
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    folder = Path(folder)
    tokenizer = build_tokenizer(folder, vocab_size=vocab_size)
    cfg = HookedTransformerConfig(
        n_layers=n_layers,
        d_model=d_model,
        n_heads=n_heads,
        d_head=d_model // n_heads,
        d_mlp=d_mlp or 4 * d_model,
        n_ctx=n_ctx,
        d_vocab=len(tokenizer),
        act_fn=act_fn,
        normalization_type=normalization_type,
        tokenizer_name=str(folder),
        seed=seed,
        device="cpu",
        model_name=folder.name,
    )
    torch.manual_seed(seed)
    model = HookedTransformer(cfg, tokenizer=tokenizer, move_to_device=False)
    # TransformerLens initialises with a small std; widen it so activations are not ~0.
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(("W_E", "W_pos")):
                param.normal_(0, 1.0)
    (folder / "config.json").write_text(json.dumps(config_to_json(cfg), indent=1))
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / "model.safetensors"))
    return folder


def config_to_json(cfg) -> dict:
    """``HookedTransformerConfig.to_dict()`` made JSON-safe (dtype as its name)."""
    import torch

    out = {}
    for key, value in cfg.to_dict().items():
        if isinstance(value, torch.dtype):
            value = str(value).removeprefix("torch.")
        try:
            json.dumps(value)
        except TypeError:
            continue
        out[key] = value
    return out


def build_tiny_sae(
    folder: Path,
    *,
    d_in: int,
    d_sae: int,
    hook_name: str,
    architecture: str = "standard",
    k: int = 8,
    seed: int = 0,
    model_name: str = "tiny",
) -> Path:
    """Build a sae_lens SAE (``standard``, ``topk`` or ``jumprelu``) with random weights whose
    decoder rows do NOT have unit norm (so norm folding matters) and ``save_model(folder)``."""
    import torch
    from sae_lens import (
        JumpReLUSAE,
        JumpReLUSAEConfig,
        StandardSAE,
        StandardSAEConfig,
        TopKSAE,
        TopKSAEConfig,
    )
    from sae_lens.saes.sae import SAEMetadata

    metadata = SAEMetadata(hook_name=hook_name, model_name=model_name, prepend_bos=True)
    if architecture == "standard":
        sae = StandardSAE(StandardSAEConfig(d_in=d_in, d_sae=d_sae, metadata=metadata))
    elif architecture == "topk":
        sae = TopKSAE(TopKSAEConfig(d_in=d_in, d_sae=d_sae, k=k, metadata=metadata))
    elif architecture == "jumprelu":
        sae = JumpReLUSAE(JumpReLUSAEConfig(d_in=d_in, d_sae=d_sae, metadata=metadata))
    else:
        raise ValueError(f"unknown architecture {architecture!r} (standard, topk, jumprelu)")
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        sae.W_enc.copy_(torch.randn(d_in, d_sae, generator=gen) / d_in**0.5)
        sae.b_enc.copy_(torch.randn(d_sae, generator=gen) * 0.1 - 0.2)
        norms = 0.5 + torch.rand(d_sae, 1, generator=gen) * 1.5
        w_dec = torch.randn(d_sae, d_in, generator=gen)
        sae.W_dec.copy_(w_dec / w_dec.norm(dim=-1, keepdim=True) * norms)
        sae.b_dec.copy_(torch.randn(d_in, generator=gen) * 0.05)
        if architecture == "jumprelu":
            sae.threshold.copy_(torch.rand(d_sae, generator=gen) * 0.2)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sae.save_model(folder)
    return folder


def register_tiny(
    *,
    model_name: str,
    model_folder: Path,
    sae_folders: dict[int, Path] | None = None,
    set_name: str = "res-tiny",
    instruct: bool = False,
    inference_enabled: bool = True,
    create_features: bool = False,
    allow_inference_search: bool = True,
):
    """Create (or update) the Model, SourceSet and one Source per ``{layer: sae_folder}`` that point
    at local folders. With ``create_features`` also a Feature row for every latent. Returns
    ``(model, source_set, [sources])``."""
    from features.models import Feature
    from models_app.models import Model, Source, SourceSet

    config = json.loads((Path(model_folder) / "config.json").read_text())
    model, _ = Model.objects.update_or_create(
        name=model_name,
        defaults={
            "display_name": model_name,
            "layers": config["n_layers"],
            "d_model": config["d_model"],
            "local_path": str(model_folder),
            "instruct": instruct,
            "inference_enabled": inference_enabled,
        },
    )
    source_set, _ = SourceSet.objects.update_or_create(
        model=model,
        name=set_name,
        defaults={"type": "sae", "allow_inference_search": allow_inference_search},
    )
    sources = []
    for layer, sae_folder in sorted((sae_folders or {}).items()):
        cfg = json.loads((Path(sae_folder) / "cfg.json").read_text())
        hook_name = cfg.get("metadata", {}).get("hook_name") or cfg.get("hook_name", "")
        source, _ = Source.objects.update_or_create(
            model=model,
            name=f"{layer}-{set_name}",
            defaults={
                "source_set": source_set,
                "layer": layer,
                "hook_name": hook_name,
                "local_path": str(sae_folder),
                "config": cfg,
                "architecture": cfg.get("architecture", ""),
                "d_sae": cfg["d_sae"],
            },
        )
        sources.append(source)
        if create_features:
            Feature.objects.bulk_create(
                [Feature(source=source, index=i) for i in range(cfg["d_sae"])], ignore_conflicts=True
            )
    if sources and model.default_source_set_id is None:
        model.default_source_set = source_set
        model.default_source = sources[0]
        model.save(update_fields=["default_source_set", "default_source"])
    return model, source_set, sources


def build_dashboard_tiny(folder: Path, *, n_features: int = 24) -> dict:
    """The dashboard engine tests' setup: a 2-layer model on a tokenizer trained from 40 pydoc
    texts, a StandardSAE whose encoder biases run from dead (-2.5) to common (0), and 40 prompts of
    16 tokens: ``{model, sae, tokens, vocab, ignore, tok}``."""
    import torch
    from sae_lens import StandardSAE, StandardSAEConfig

    from inference.dashboards.corpus import corpus_texts, tokenize_corpus
    from inference.demo.build import ModelSpec, new_model, train_tokenizer

    texts = list(corpus_texts("pydoc"))[:40]
    tok = train_tokenizer(texts, Path(folder), vocab_size=300)
    model = new_model(ModelSpec(n_layers=2, d_model=32, n_heads=4, d_mlp=64, n_ctx=16), tok, seed=1)
    model.eval()
    torch.manual_seed(2)
    sae = StandardSAE(StandardSAEConfig(d_in=32, d_sae=n_features))
    with torch.no_grad():
        sae.b_enc.copy_(torch.linspace(-2.5, 0.0, n_features))
    return {
        "model": model,
        "sae": sae,
        "tokens": tokenize_corpus(tok, "pydoc", n_prompts=40, ctx_len=16),
        "vocab": tok.convert_ids_to_tokens(list(range(len(tok)))),
        "ignore": frozenset({tok.bos_token_id, tok.eos_token_id, tok.pad_token_id}),
        "tok": tok,
    }
