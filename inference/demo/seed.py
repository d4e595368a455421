"""The offline demo: a model, SAEs, dashboards, explanations and a list, built on first start.

``demo_seed`` trains a byte-level BPE tokenizer and a small TransformerLens transformer on
Python's bundled documentation (``pydoc_data.topics``), trains a sae_lens TopK SAE on its
residual stream before each block, registers them (local folders, read by the real loaders, so
the demo supports live activations and steering), generates every feature's dashboard, explains
each live feature with a deterministic "top tokens" explainer (typed as such, so LLM
explanations can replace it later) and creates an example list owned by the ``demo`` user.

Trained folders are cached under ``DATA_DIR/demo`` (with a stamp of the settings), and a demo
model already registered with features is left alone, so later starts are instant.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction

MODEL_NAME = "tiny-pydoc"
SET_NAME = "res-demo"
EXPLANATION_TYPE = "top-tokens"
EXPLAINER_MODEL = "neuronsite-top-tokens"
DEMO_USER = "demo"
LIST_NAME = "Demo: features that are about something"


@dataclass(frozen=True)
class DemoSpec:
    layers: tuple[int, ...] = (0, 1)
    vocab_size: int = 2048
    n_layers: int = 2
    d_model: int = 128
    n_heads: int = 4
    d_mlp: int = 512
    n_ctx: int = 64
    model_steps: int = 500
    sae_steps: int = 2000
    chat_steps: int = 40  # chat monitor (issue 15): fine-tune on chat-formatted corpus text
    d_sae: int = 512
    k: int = 16
    n_prompts: int = 1024
    umap: bool = True
    seed: int = 0
    version: int = 1  # bump when the training code changes: invalidates the cached folders


@dataclass
class SeedResult:
    skipped: bool = False
    features: int = 0
    explanations: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def demo_is_seeded() -> bool:
    from features.models import Feature

    return Feature.objects.filter(source__model__name=MODEL_NAME, activations__isnull=False).exists()


def demo_seed(
    *,
    spec: DemoSpec = DemoSpec(),
    data_dir: Path | None = None,
    log: Callable[[str], None] = print,
    progress: Callable[[int, int], None] | None = None,
) -> SeedResult:
    """Build (or reuse) the demo and register it (see the module docstring). ``progress(done,
    total)`` counts its steps: training, each source's dashboards, explanations (jobs report it)."""
    if demo_is_seeded():
        return SeedResult(skipped=True)
    steps = len(spec.layers) + 2
    report = progress or (lambda done, total: None)
    report(0, steps)
    import torch

    from inference.dashboards.services import dashboards_generate

    torch.set_num_threads(max(1, min(torch.get_num_threads(), 8)))
    result = SeedResult()
    t0 = time.monotonic()
    folder = Path(data_dir or settings.DATA_DIR) / "demo" / MODEL_NAME
    model_dir, sae_dirs = _build_folders(spec, folder, log)
    result.seconds["train"] = time.monotonic() - t0
    sources = demo_register(model_dir=model_dir, sae_dirs=sae_dirs)
    report(1, steps)
    t1 = time.monotonic()
    for step, source in enumerate(sources, start=2):
        log(f"dashboards for {MODEL_NAME}/{source.name}")
        dashboards_generate(
            source=source,
            corpus="pydoc",
            n_prompts=spec.n_prompts,
            ctx_len=spec.n_ctx,
            batch_size=128,
            umap=spec.umap,
            seed=spec.seed,
        )
        report(step, steps)
    result.seconds["dashboards"] = time.monotonic() - t1
    result.features, result.explanations = demo_explain(sources=sources)
    demo_list_create(sources=sources)
    t2 = time.monotonic()
    demo_graphs_hook(spec=spec, model_dir=model_dir, folder=folder, log=log)  # graphs (helper G)
    result.seconds["graphs"] = time.monotonic() - t2
    report(steps, steps)
    result.seconds["total"] = time.monotonic() - t0
    return result


def demo_graphs_hook(*, spec: DemoSpec, model_dir: Path, folder: Path, log) -> None:
    """Graphs: per-layer transcoders with dashboards and top-token labels (inference/demo/transcoders.py)."""
    from inference.demo.transcoders import demo_transcoders_seed

    source_set = demo_transcoders_seed(
        model_name=MODEL_NAME, model_dir=model_dir, folder=folder / "transcoders",
        d_transcoder=spec.d_sae, steps=spec.sae_steps, train_prompts=4096,  # sized like the demo's SAEs
        n_prompts=spec.n_prompts, ctx_len=spec.n_ctx, umap=spec.umap, seed=spec.seed, log=log,
    )  # fmt: skip
    demo_explain(sources=list(source_set.sources.all()))


def _build_folders(spec: DemoSpec, folder: Path, log) -> tuple[Path, dict[int, Path]]:
    """Train (or reuse from the cache) the tokenizer, model and SAEs."""
    stamp = folder / "stamp.json"
    model_dir = folder / "model"
    sae_dirs = {layer: folder / f"sae-{layer}" for layer in spec.layers}
    if stamp.exists() and json.loads(stamp.read_text()) == _jsonable(asdict(spec)):
        log(f"reusing the demo model and SAEs cached in {folder}")
        return model_dir, sae_dirs
    from inference.dashboards.corpus import corpus_texts, tokenize_corpus
    from inference.demo.build import (
        ModelSpec,
        new_model,
        resid_activations,
        save_model,
        train_model,
        train_tokenizer,
        train_topk_sae,
    )

    log("training the demo tokenizer and model on pydoc_data.topics")
    tokenizer = train_tokenizer(corpus_texts("pydoc"), model_dir, vocab_size=spec.vocab_size)
    tokens = tokenize_corpus(tokenizer, "pydoc", n_prompts=10**7, ctx_len=spec.n_ctx)
    model_spec = ModelSpec(spec.n_layers, spec.d_model, spec.n_heads, spec.d_mlp, spec.n_ctx, spec.vocab_size)
    model = new_model(model_spec, tokenizer, seed=spec.seed, model_name=MODEL_NAME)
    train_model(model, tokens, steps=spec.model_steps, seed=spec.seed, log=log)
    demo_chat_hook(spec=spec, model=model, tokenizer=tokenizer, tokens=tokens, log=log)  # monitor (issue 15)
    save_model(model, tokenizer, model_dir)
    for layer, sae_dir in sae_dirs.items():
        hook = f"blocks.{layer}.hook_resid_pre"
        log(f"training the SAE on {hook}")
        acts = resid_activations(model, tokens, hook)
        sae = train_topk_sae(
            acts, d_sae=spec.d_sae, k=spec.k, hook_name=hook, model_name=MODEL_NAME,
            steps=spec.sae_steps, seed=spec.seed, log=log,
        )  # fmt: skip
        sae_dir.mkdir(parents=True, exist_ok=True)
        sae.save_model(str(sae_dir))
    stamp.write_text(json.dumps(_jsonable(asdict(spec))))
    return model_dir, sae_dirs


def demo_chat_hook(*, spec: DemoSpec, model, tokenizer, tokens, log) -> None:
    """Chat monitor: a chat template and a short chat fine-tune (inference/demo/chat.py), so the
    demo model is an instruct model."""
    from inference.demo.chat import chat_finetune

    chat_finetune(model, tokenizer, tokens, steps=spec.chat_steps, seed=spec.seed, log=log)


def _jsonable(value):
    return json.loads(json.dumps(value))


@transaction.atomic
def demo_register(*, model_dir: Path, sae_dirs: dict[int, Path]):
    """Create or update the demo Model, SourceSet and Sources pointing at the local folders."""
    from models_app.models import Model, Source, SourceSet

    config = json.loads((model_dir / "config.json").read_text())
    model, _ = Model.objects.update_or_create(
        name=MODEL_NAME,
        defaults={
            "display_name": "Tiny pydoc transformer (demo)",
            "display_name_short": "tiny-pydoc",
            "creator_name": "Neuronsite demo",
            "layers": config["n_layers"],
            "d_model": config["d_model"],
            "local_path": str(model_dir),
            "inference_enabled": True,
            # chat monitor (issue 15): instruct when the saved tokenizer has the chat template
            "instruct": "chat_template" in (model_dir / "tokenizer_config.json").read_text()
            or (model_dir / "chat_template.jinja").exists(),
        },
    )
    source_set, _ = SourceSet.objects.update_or_create(
        model=model,
        name=SET_NAME,
        defaults={
            "type": "sae",
            "creator_name": "Neuronsite demo",
            "description": "TopK SAEs trained offline on the residual stream of the demo model.",
            "allow_inference_search": True,
            "allow_steering": True,
            "show_umap": True,
        },
    )
    sources = []
    for layer, sae_dir in sorted(sae_dirs.items()):
        cfg = json.loads((sae_dir / "cfg.json").read_text())
        source, _ = Source.objects.update_or_create(
            model=model,
            name=f"{layer}-{SET_NAME}",
            defaults={
                "source_set": source_set,
                "layer": layer,
                "hook_name": cfg["metadata"]["hook_name"],
                "local_path": str(sae_dir),
                "config": cfg,
                "architecture": cfg.get("architecture", ""),
                "d_sae": cfg["d_sae"],
            },
        )
        sources.append(source)
    model.default_source_set = source_set
    model.default_source = sources[-1]
    model.save(update_fields=["default_source_set", "default_source"])
    return sources


def _whitespace_name(token: str) -> str:
    """A readable name for a whitespace-only token: ``[space]``, ``[3 spaces]``, ``[tab]``."""
    if not token:
        return "[empty]"
    if set(token) == {" "}:
        return "[space]" if len(token) == 1 else f"[{len(token)} spaces]"
    if set(token) == {"\t"}:
        return "[tab]" if len(token) == 1 else f"[{len(token)} tabs]"
    return "[whitespace]"


def top_tokens_explanation(top_tokens: list[str], previous: list[str]) -> str | None:
    """Deterministic explanation from a feature's top-group qualifying tokens (display forms)
    and the tokens just before them."""
    counts = Counter(t.strip() or _whitespace_name(t) for t in top_tokens)
    if not counts:
        return None
    common = counts.most_common(3)
    share = common[0][1] / sum(counts.values())
    # whitespace-only tokens are named ("a space"), not quoted: '" "' is unreadable
    quoted = [t if t.startswith("[") else f'"{t}"' for t, _ in common]
    if share >= 0.6:
        text = f"the token {quoted[0]}"
    else:
        text = "tokens " + ", ".join(quoted[:-1]) + f" and {quoted[-1]}" if len(quoted) > 1 else quoted[0]
    prev = Counter(p.strip() for p in previous if p.strip())
    if prev:
        word, n = prev.most_common(1)[0]
        if n / len(previous) >= 0.5:
            text += f' after "{word}"'
    return text


@transaction.atomic
def demo_explain(*, sources) -> tuple[int, int]:
    """Give every live feature of ``sources`` a top-tokens explanation (replacing older ones of
    that type). Returns ``(features, explanations written)``."""
    from features.models import Activation, ExplainerModel, Explanation, ExplanationType, Feature
    from features.tokens import token_display

    user = demo_user()
    etype, _ = ExplanationType.objects.get_or_create(
        name=EXPLANATION_TYPE,
        defaults={
            "display_name": "Top tokens",
            "description": "Summarises the tokens a feature fires on most and what precedes them. "
            "Deterministic; meant to be replaced by LLM explanations.",
            "creator_name": "Neuronsite",
        },
    )
    explainer, _ = ExplainerModel.objects.get_or_create(
        name=EXPLAINER_MODEL, defaults={"display_name": "Neuronsite top-tokens (no LLM)"}
    )
    features = list(Feature.objects.filter(source__in=sources))
    Explanation.objects.filter(feature__in=features, type=etype).delete()
    top: dict[int, list[tuple[str, str]]] = {}
    for feature_id, tokens, q in Activation.objects.filter(feature__in=features, bin_min=-1).values_list(
        "feature_id", "tokens", "qualifying_token_index"
    ):
        if q is not None and 0 <= q < len(tokens):
            prev = token_display(tokens[q - 1]) if q > 0 else ""
            top.setdefault(feature_id, []).append((token_display(tokens[q]), prev))
    rows = []
    for f in features:
        pairs = top.get(f.pk, [])
        text = top_tokens_explanation([t for t, _ in pairs], [p for _, p in pairs])
        if text:
            rows.append(
                Explanation(feature=f, description=text, type=etype, explainer_model=explainer, author=user)
            )
    Explanation.objects.bulk_create(rows, batch_size=1000)
    return len(features), len(rows)


def demo_user():
    from accounts.models import User

    user, created = User.objects.get_or_create(username=DEMO_USER)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


@transaction.atomic
def demo_list_create(*, sources, size: int = 12):
    """An example public list: the features whose top tokens agree most, across the sources."""
    from features.models import Explanation, List, ListItem
    from neuronsite.fields import Visibility

    user = demo_user()
    lst, _ = List.objects.update_or_create(
        owner=user,
        name=LIST_NAME,
        defaults={
            "description": "Features of the demo SAEs picked by the top-tokens explainer: each fires on one "
            "recognisable token or pattern.",
            "default_test_text": "def __init__(self, value):\n    return self.value",
            "visibility": Visibility.PUBLIC,
        },
    )
    picked = list(
        Explanation.objects.filter(
            feature__source__in=sources, type__name=EXPLANATION_TYPE, description__startswith="the token"
        )
        .select_related("feature")
        .order_by("-feature__frac_nonzero")[:size]
    )
    ListItem.objects.filter(list=lst).delete()
    ListItem.objects.bulk_create([ListItem(list=lst, feature=e.feature, note=e.description) for e in picked])
    return lst
