"""Steered generation, one token per engine call.

A ``Generation`` is one completion (DEFAULT or STEERED) with its own KV cache and its own RNG state,
so DEFAULT and STEERED can be advanced alternately (streamed side by side) and still produce
exactly what two separate ``torch.manual_seed(seed); model.generate(...)`` runs would. Each
``step()`` installs the steering hooks for that forward pass only, so several generations (other
connections) interleave safely on the engine thread.

Methods (coefficient ``c`` = strength × strength_multiplier, ``v`` the feature's decoder row or the
user's vector, applied at the feature's hook on every position, prompt and generated):

- ``SIMPLE_ADDITIVE``: ``x + c·v``;
- ``ORTHOGONAL_DECOMP``: the component of ``x`` along ``v`` is replaced by ``c`` times itself:
  with ``p = (x·v̂) v̂``, ``x - p + c·p``.

With ``steer_special_tokens=False`` (chat), prompt positions holding special tokens (the chat
template's markers) are left unsteered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from inference.engine import SourceSpec
from inference.errors import InferenceInputError

SIMPLE_ADDITIVE = "SIMPLE_ADDITIVE"
ORTHOGONAL_DECOMP = "ORTHOGONAL_DECOMP"
STEER_METHODS = (SIMPLE_ADDITIVE, ORTHOGONAL_DECOMP)
TOP_LOGPROBS = 5  # candidates per generated token in the token events' ``topLogprobs``


@dataclass(frozen=True)
class SteerDirection:
    """One steering term: a SAE latent (``source`` + ``index``) or a raw ``vector``, at ``hook_name``."""

    hook_name: str
    coefficient: float
    source: SourceSpec | None = None
    index: int | None = None
    vector: tuple[float, ...] | None = None


def steering_hook(terms, method: str, mask=None):
    """A TransformerLens forward hook applying ``terms`` = [(v, c)] with ``method``. ``mask``
    ([pos] bool) limits steering to True positions of the first (prompt) pass."""
    import torch

    def hook(act, hook=None):
        steered = act
        for v, c in terms:
            if method == SIMPLE_ADDITIVE:
                steered = steered + c * v
            else:
                u = v / v.norm()
                proj = (steered @ u)[..., None] * u
                steered = steered - proj + c * proj
        if mask is not None and mask.shape[0] == act.shape[1]:
            steered = torch.where(mask[None, :, None], steered, act)
        return steered

    return hook


def resolve_directions(
    model, directions: Sequence[SteerDirection], saes: dict | None = None
) -> dict[str, list]:
    """``{hook_name: [(vector tensor, coefficient)]}`` on the model's device and dtype. ``saes``
    ({SourceSpec: SAE}) holds the SAE of every direction that names a latent."""
    import torch

    saes = saes or {}
    by_hook: dict[str, list] = {}
    for d in directions:
        if d.hook_name not in model.hook_dict:
            raise InferenceInputError(
                f"Unknown hook {d.hook_name!r} for this model (e.g. blocks.0.hook_resid_pre)."
            )
        if d.vector is not None:
            if len(d.vector) != model.cfg.d_model:
                raise InferenceInputError(
                    f"Steering vector has dimension {len(d.vector)}; the model's d_model is {model.cfg.d_model}."
                )
            v = torch.tensor(d.vector, dtype=model.cfg.dtype, device=model.cfg.device)
        else:
            sae = saes[d.source]
            if not 0 <= d.index < sae.cfg.d_sae:
                raise InferenceInputError(
                    f"Index {d.index} is out of range for {d.source.name} (d_sae {sae.cfg.d_sae})."
                )
            v = sae.W_dec[d.index].detach().to(device=model.cfg.device, dtype=model.cfg.dtype)
        if method_needs_norm(v):
            raise InferenceInputError("A steering vector must not be all zeros.")
        if not bool(torch.isfinite(v * float(d.coefficient)).all()):
            raise InferenceInputError(
                "A steering vector times its strength overflows the model's dtype: lower the strength.",
                field="features",
            )
        by_hook.setdefault(d.hook_name, []).append((v, float(d.coefficient)))
    return by_hook


def method_needs_norm(v) -> bool:
    return not bool(v.abs().sum() > 0)


class Generation:
    """One completion advanced by ``step()`` on the engine thread. ``model`` is the loaded
    ``HookedTransformer``; ``saes`` ({SourceSpec: SAE}) holds the SAEs the ``directions`` name."""

    def __init__(
        self,
        model,
        input_ids: Sequence[int],
        *,
        directions: Sequence[SteerDirection] = (),
        saes: dict | None = None,
        method: str = SIMPLE_ADDITIVE,
        temperature: float = 1.0,
        n_tokens: int = 32,
        freq_penalty: float = 0.0,
        seed: int = 0,
        steer_special_tokens: bool = True,
        stop_at_eos: bool = True,
    ) -> None:
        import torch
        from transformer_lens.cache.key_value_cache import TransformerLensKeyValueCache

        self.model = model
        if method not in STEER_METHODS:
            raise InferenceInputError(
                f"steer_method must be one of {', '.join(STEER_METHODS)}, got {method!r}."
            )
        self.device = model.cfg.device
        self.input_ids = [int(i) for i in input_ids]
        if len(self.input_ids) + n_tokens > model.cfg.n_ctx:
            raise InferenceInputError(
                f"Prompt ({len(self.input_ids)} tokens) plus n_tokens ({n_tokens}) exceeds the model's "
                f"context of {model.cfg.n_ctx} tokens."
            )
        self.tokens = torch.tensor([self.input_ids], dtype=torch.long, device=self.device)
        by_hook = resolve_directions(model, directions, saes)
        mask = None
        if not steer_special_tokens and by_hook:
            special = set(model.tokenizer.all_special_ids)
            mask = torch.tensor([i not in special for i in self.input_ids], device=self.device)
        self.hooks = [(name, steering_hook(terms, method, mask)) for name, terms in by_hook.items()]
        self.temperature = float(temperature)
        self.freq_penalty = float(freq_penalty)
        self.n_tokens = int(n_tokens)
        self.eos = model.tokenizer.eos_token_id if stop_at_eos else None
        self.cache = TransformerLensKeyValueCache.init_cache(model.cfg, self.device, 1)
        self.generated: list[int] = []
        # [(token id, logprob)] of the last step's top candidates, best first.
        self.last_top: list[tuple[int, float]] = []
        self.last_logprob: float | None = None  # the sampled token's own log-prob
        self.done = self.n_tokens <= 0
        # Same RNG stream as ``torch.manual_seed(seed)`` followed by ``model.generate``.
        torch.manual_seed(int(seed))
        self._rng = self._rng_get()

    def _rng_get(self):
        import torch

        cuda = torch.cuda.get_rng_state(self.device) if str(self.device).startswith("cuda") else None
        return torch.get_rng_state(), cuda

    def _rng_set(self, state) -> None:
        import torch

        cpu, cuda = state
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state(cuda, self.device)

    def step(self) -> int | None:
        """Generate one token; returns it, or None when finished."""
        import torch
        from transformer_lens import utils

        if self.done:
            return None
        model = self.model
        inp = self.tokens if not self.generated else self.tokens[:, -1:]
        with torch.no_grad():
            # Hooks live for this forward pass only (other generations share the model). Added
            # on the hook points directly: ``model.hooks()`` resets every hook point, which costs
            # as much as a small model's forward pass.
            points = [model.hook_dict[name] for name, _ in self.hooks]
            try:
                for point, (_, fn) in zip(points, self.hooks, strict=True):
                    point.add_hook(fn, dir="fwd")
                logits = model(inp, past_kv_cache=self.cache)
            finally:
                for point in points:
                    point.remove_hooks(dir="fwd")
            if not bool(torch.isfinite(logits[:, -1, :]).all()):
                self.done = True
                raise InferenceInputError(
                    "Steering made the model's logits non-finite (inf/NaN): lower the strengths, "
                    "strength_multiplier or vector values.",
                    field="features",
                )
            # The top candidates as the model ranks them: log_softmax of the final logits (before
            # temperature / frequency penalty), for the page's per-token top-5 view.
            logprobs = torch.log_softmax(logits[0, -1, :].float(), dim=-1)
            values, indices = logprobs.topk(min(TOP_LOGPROBS, logprobs.shape[-1]))
            self.last_top = list(zip(indices.tolist(), values.tolist(), strict=True))
            self._rng_set(self._rng)
            try:
                token = utils.sample_logits(
                    logits[:, -1, :],
                    temperature=self.temperature,
                    freq_penalty=self.freq_penalty,
                    tokens=self.tokens,
                )
            except (RuntimeError, ValueError) as exc:  # e.g. logits / a tiny temperature overflow
                self.done = True
                raise InferenceInputError(
                    "Sampling failed on non-finite probabilities: raise the temperature (or use 0 "
                    "for greedy decoding) or lower the strengths.",
                    field="temperature",
                ) from exc
            self._rng = self._rng_get()
        tok = int(token[0])
        self.last_logprob = float(logprobs[tok])
        self.generated.append(tok)
        self.tokens = torch.cat([self.tokens, token.view(1, 1).to(self.tokens.device)], dim=1)
        if len(self.generated) >= self.n_tokens or (self.eos is not None and tok == self.eos):
            self.done = True
        return tok

    def run(self) -> list[int]:
        while not self.done:
            self.step()
        return self.generated

    def text(self) -> str:
        """Prompt + completion, decoded as ``HookedTransformer.generate(return_type='str')`` does
        (NUL made U+FFFD: PostgreSQL text cannot hold it)."""
        return storable(
            self.model.tokenizer.decode(self.input_ids + self.generated, skip_special_tokens=True)
        )

    def completion(self) -> str:
        return storable(self.model.tokenizer.decode(self.generated, skip_special_tokens=True))


def storable(text: str) -> str:
    """Text PostgreSQL can store: a generated NUL byte becomes U+FFFD."""
    return text.replace("\x00", "\ufffd")


def prompt_ids(model, *, prompt: str | None = None, chat: list | None = None) -> list[int]:
    """Token ids of a completion prompt (with BOS) or of a chat through the tokenizer's template,
    within the token limit (``ops.token_limit``)."""
    from inference.engine.ops import check_token_count, to_tokens

    if chat is not None:
        if not getattr(model.tokenizer, "chat_template", None):
            raise InferenceInputError("This model has no chat template; use /api/steer.")
        ids = model.tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=True)
        if hasattr(ids, "input_ids"):
            ids = ids["input_ids"]
        ids = [int(i) for i in ids]
        check_token_count(model, len(ids), what="Chat")
        return ids
    return [int(i) for i in to_tokens(model, prompt or "", field="prompt")[0]]


def advance(gens: dict, *, slice_s: float = 0.05, with_text=None) -> list[tuple]:
    """Engine thread: step the unfinished generations alternately (DEFAULT, STEERED, DEFAULT, ...)
    for about ``slice_s`` seconds or until all are done. Returns ``[(kind, token id, raw token,
    text, lp)]`` in generation order, where ``text = with_text(gen)`` (None without it) and
    ``lp = {"logprob": the token's own log-prob, "top": [{"token": raw token, "id": token id,
    "logprob": float}]}``, the step's top-5 candidates, best first (log_softmax of the logits the
    token was sampled from).

    One engine call per time slice rather than per token: handing every token across threads
    costs more than the token itself on small models, while slices still let other requests run
    in between and keep streams live."""
    import time

    deadline = time.perf_counter() + slice_s
    events = []
    while True:
        active = [k for k, g in gens.items() if not g.done]
        if not active:
            break
        for kind in active:
            gen = gens[kind]
            tok = gen.step()
            if tok is not None:
                tokenizer = gen.model.tokenizer
                raw = tokenizer.convert_ids_to_tokens(tok)
                ids = [i for i, _ in gen.last_top]
                top = [
                    {"token": t, "id": i, "logprob": lp}
                    for t, (i, lp) in zip(tokenizer.convert_ids_to_tokens(ids), gen.last_top, strict=True)
                ]
                top = {"logprob": gen.last_logprob, "top": top}
                events.append((kind, tok, raw, with_text(gen) if with_text else None, top))
        if time.perf_counter() >= deadline:
            break
    return events
