"""Generate a source's dashboards and write them through the importers' write path.

``dashboards_generate`` loads the source's model and SAE with the real loaders
(``inference.loading``), tokenises the corpus, and processes the features in ledger batches of
``batch_size``: each batch is written by ``features_batch_write`` (COPY, one transaction, a
ledger row in that transaction; the activation rows are encoded straight from the engine's
arrays, ``copyrows.py``). The engine hands a window's features over in pieces of whole ledger
batches, computed in a thread while this one writes the piece before, so PostgreSQL ingests one
piece on one core while the next one computes (the database work stays in the calling thread:
its connection and transaction, the cancel checks). The ledger key names the source and feature range; the checksum
covers the corpus tokens, the settings and the SAE weights. A re-run with the same inputs skips
every batch already written (resume after a kill), and a run with new inputs replaces them.
"""

from __future__ import annotations

import hashlib
import json
import math
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.db import transaction

from features.importers.ledger import ledger_done
from features.importers.writer import features_batch_write, features_batch_write_prepared

KIND = "dashboards"
NEIGHBOUR_CHUNK = 1024  # decoder rows per similarity matmul
LAYOUT_CACHE_SECONDS = 7 * 86400


class GenerationError(ValueError):
    """Bad input for a generation (names the problem)."""


@dataclass
class GenerationResult:
    batches_total: int = 0
    batches_written: int = 0
    batches_skipped: int = 0
    features_written: int = 0
    activations_written: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def parse_feature_range(spec: str | None, d_sae: int) -> tuple[int, int]:
    """``"a:b"`` (either side optional) -> ``(a, b)`` within ``[0, d_sae]``."""
    if not spec:
        return 0, d_sae
    start_s, sep, stop_s = spec.partition(":")
    try:
        start = int(start_s) if start_s else 0
        stop = int(stop_s) if stop_s else d_sae
        if not sep:
            stop = start + 1
    except ValueError as exc:
        raise GenerationError(f"--features must look like 0:512, got {spec!r}") from exc
    if not 0 <= start < stop <= d_sae:
        raise GenerationError(f"--features {spec} is outside 0:{d_sae} (the SAE has {d_sae} latents)")
    return start, stop


def ledger_key(source, start: int, stop: int) -> str:
    return f"{KIND}:{source.model.name}/{source.name}:{start}-{stop}"


def dashboards_generate(
    *,
    source,
    corpus: str = "pydoc",
    n_prompts: int = 1024,
    ctx_len: int | None = None,
    features: str | None = None,
    batch_size: int = 256,
    features_per_pass: int = 4096,
    prompt_batch_size: int = 32,
    umap: bool = True,
    neighbours: int = 10,
    seed: int = 0,
    progress: Callable[[str, int, int], None] | None = None,
    check: Callable[[], None] | None = None,
    fast_rows: bool = True,
    piece_batches: int | None = None,
) -> GenerationResult:
    """Compute and store the dashboards of ``source`` (see the module docstring). ``fast_rows``
    (the default) encodes the activation rows straight from the engine's arrays; ``False``
    writes them as dicts through the importers (same rows, slower). ``piece_batches``: ledger
    batches per piece of a pass, a piece written while the next one computes; the rows do not
    depend on it. The default (``None``) is one piece per pass: compute, then write. On the 2-core
    machine the bench measured, overlapping was slower (written 5.11 s overlapped against 4.18 s
    serial, quiet; PostgreSQL's ingest and the compute compete for the same cores), so it is an
    option for machines with cores to spare."""
    import time

    from inference.dashboards.corpus import CorpusError, tokenize_corpus, tokens_checksum
    from inference.dashboards.engine import (
        DashboardConfig,
        HookActivations,
        decoder_neighbours,
        iter_dashboards_arrays,
        umap_layout,
    )
    from inference.loading import LoadError, load_model, load_sae

    if batch_size < 1 or prompt_batch_size < 1:
        raise GenerationError("--batch-size and --prompt-batch-size must be at least 1")
    report = progress or (lambda phase, done, total: None)
    result = GenerationResult()
    t0 = time.monotonic()
    try:
        model = load_model(source.model)
        sae = load_sae(source)
    except LoadError as exc:
        raise GenerationError(str(exc)) from exc
    hook_name = sae.cfg.metadata.hook_name or source.hook_name
    if not hook_name:
        raise GenerationError(f"Source '{source.name}' has no hook name")
    ctx_len = ctx_len or min(64, model.cfg.n_ctx)
    if ctx_len > model.cfg.n_ctx:
        raise GenerationError(f"--ctx-len {ctx_len} exceeds the model's context of {model.cfg.n_ctx}")
    d_sae = int(sae.cfg.d_sae)
    start, stop = parse_feature_range(features, d_sae)
    tokenizer = model.tokenizer
    try:
        tokens = tokenize_corpus(tokenizer, corpus, n_prompts=n_prompts, ctx_len=ctx_len)
    except CorpusError as exc:
        raise GenerationError(str(exc)) from exc
    ignore = frozenset(
        t for t in (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id) if t is not None
    )
    config = DashboardConfig(prompt_batch_size=prompt_batch_size, seed=seed, ignore_token_ids=ignore)
    digest = hashlib.sha256()
    digest.update(tokens_checksum(tokens).encode())
    digest.update(json.dumps([corpus, repr(config), umap, neighbours, hook_name]).encode())
    for name in ("W_enc", "W_dec", "b_enc"):
        digest.update(getattr(sae, name).detach().float().cpu().numpy().tobytes())
    checksum = digest.hexdigest()
    result.seconds["load"] = time.monotonic() - t0

    batches = [(a, min(a + batch_size, stop)) for a in range(start, stop, batch_size)]
    result.batches_total = len(batches)
    pending = [b for b in batches if not ledger_done(key=ledger_key(source, *b), checksum=checksum)]
    result.batches_skipped = len(batches) - len(pending)
    report("batches", result.batches_skipped, result.batches_total)
    if not pending:
        return result

    t1 = time.monotonic()
    # Neighbours of this run's features only, over whole chunks of the full run's chunk grid (so
    # every row is computed exactly as a run over all features computes it); the UMAP layout
    # needs every feature: one process computes it per SAE and the shards share it.
    nb_start = start // NEIGHBOUR_CHUNK * NEIGHBOUR_CHUNK
    nb_stop = min(d_sae, -(-stop // NEIGHBOUR_CHUNK) * NEIGHBOUR_CHUNK)
    nb_idx, nb_val = (
        decoder_neighbours(sae.W_dec, range(nb_start, nb_stop), neighbours, chunk=NEIGHBOUR_CHUNK)
        if neighbours
        else (None, None)
    )
    layout = _layout_once(sae.W_dec, seed=seed, compute=umap_layout) if umap else None
    result.seconds["neighbours_umap"] = time.monotonic() - t1

    vocab = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    hook_acts = HookActivations(model, tokens, hook_name, prompt_batch_size, config.cache_bytes)
    # Passes are fixed windows of the feature range (not runs of pending batches): the engine's
    # random interval sampling depends on which features share a pass, so a resumed run or a shard
    # (cut on window boundaries, see sharding.py) computes every batch exactly as one full run does.
    window = max(1, features_per_pass // batch_size) * batch_size
    groups: dict[int, list[tuple[int, int]]] = {}
    for a, b in pending:
        groups.setdefault((a - start) // window, []).append((a, b))
    t2 = time.monotonic()
    # The window's features come from the engine in pieces of whole ledger batches, computed in a
    # thread while this one (which keeps the database connection: writes, cancel checks) encodes
    # and writes the piece before: PostgreSQL ingests one piece as the next one computes.
    piece = max(1, piece_batches) * batch_size if piece_batches else window
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dashboards-encode")
    try:
        for w, group in groups.items():
            w_start = start + w * window
            indices = list(range(w_start, min(stop, start + (w + 1) * window)))

            def pieces(progress, indices=indices):
                return iter_dashboards_arrays(
                    model=model, sae=sae, hook_name=hook_name, tokens=tokens, feature_indices=indices,
                    vocab=vocab, config=config, hook_acts=hook_acts, progress=progress, chunk=piece,
                )  # fmt: skip

            def decorate(d: dict) -> dict:
                return _decorate(d, nb_idx, nb_val, nb_start, layout, hook_name, corpus)

            with _Producer(pieces, check) as producer:
                p0 = 0  # the piece's first position in the window
                for arrays in producer:
                    p1 = p0 + arrays.n_features
                    here = [(a, b) for a, b in group if p0 <= a - w_start < p1]
                    _write_piece(
                        arrays, here, offset=w_start + p0, source=source, corpus=corpus, checksum=checksum,
                        decorate=decorate, fast_rows=fast_rows, pool=pool, result=result, report=report,
                    )  # fmt: skip
                    p0 = p1
                    if check:
                        check()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    result.seconds["compute_write"] = time.monotonic() - t2
    _source_mark(source=source, corpus=corpus, n_prompts=int(tokens.shape[0]), ctx_len=ctx_len)
    return result


def _write_piece(
    arrays, batches, *, offset, source, corpus, checksum, decorate, fast_rows, pool, result, report
):
    """Write the ledger ``batches`` (feature ranges) of one piece of a window's dashboards
    (``arrays``, whose first feature is ``offset``)."""
    from inference.dashboards.copyrows import SnippetEncoder, encodable

    # The rows straight from the arrays; data the fast encoder does not take goes through the
    # importers' dict path, whose validation names the problem.
    encoder = SnippetEncoder(arrays, data_source=corpus) if fast_rows and encodable(arrays) else None
    by_index = None if encoder else {d["feature_index"]: d for d in arrays.to_dicts()}
    ahead = None
    for j, (a, b) in enumerate(batches):
        key = ledger_key(source, a, b)
        if encoder is not None:
            # The encode thread prepares the next batch's rows while this one is written (numpy
            # and PostgreSQL's ingest overlap; the thread never touches the database).
            current = ahead or _encode_in(pool, encoder, a - offset, b - offset, decorate, source)
            ahead = None
            if j + 1 < len(batches):
                a2, b2 = batches[j + 1]
                ahead = _encode_in(pool, encoder, a2 - offset, b2 - offset, decorate, source)
            written = features_batch_write_prepared(
                source=source,
                prepare=lambda current=current, **_: current.result(),
                ledger_key=key,
                checksum=checksum,
                kind=KIND,
            )
        else:
            written = features_batch_write(
                source=source,
                features=[decorate(by_index[i]) for i in range(a, b)],
                ledger_key=key,
                checksum=checksum,
                kind=KIND,
            )
        if written.skipped:  # another process wrote it meanwhile
            result.batches_skipped += 1
        else:
            result.batches_written += 1
            result.features_written += written.features
            result.activations_written += written.activations
        report("batches", result.batches_written + result.batches_skipped, result.batches_total)


class _Stopped(Exception):
    pass


class _Producer:
    """Runs the engine's piece iterator (``make(progress)``) in its own thread and hands the
    pieces over one at a time (a queue of one: at most one piece waits while another is written).
    The consumer's thread runs ``check`` (e.g. a job's cancel check, which reads the database)
    while it waits; on leaving, the engine is stopped at its next prompt batch and joined."""

    def __init__(self, make, check):
        self.make, self.check = make, check
        self.queue: queue.Queue = queue.Queue(maxsize=1)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="dashboards-compute", daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        return False

    def _progress(self, step: int, steps: int) -> None:
        if self.stop.is_set():
            raise _Stopped

    def _put(self, item) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for arrays in self.make(self._progress):
                if not self._put(("piece", arrays)):
                    return
            self._put(("end", None))
        except _Stopped:
            pass
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(("error", exc))

    def __iter__(self):
        while True:
            try:
                kind, value = self.queue.get(timeout=0.25)
            except queue.Empty:
                if self.check:
                    self.check()
                continue
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value


def _encode_in(pool, encoder, p0: int, p1: int, decorate, source):
    """The prepared rows of the window's features ``p0:p1``, encoded in ``pool`` (a future).
    Generated features have no creator; their time is the moment the batch was prepared."""
    from django.utils import timezone

    return pool.submit(
        encoder.prepare, p0, p1, decorate=decorate, d_sae=source.d_sae, creator_id=None,
        created_at=timezone.now(),
    )  # fmt: skip


def _layout_once(w_dec, *, seed: int, compute) -> tuple[list[float], list[float], list[int]]:
    """The UMAP layout of ``w_dec``, computed once per decoder and seed: shards of one generation
    (in any worker process) take an advisory lock on the decoder's digest; the first computes the
    layout and leaves it in the shared cache, the others read it from there."""
    from django.core.cache import cache

    from features.importers.ledger import ledger_lock

    digest = hashlib.sha256(w_dec.detach().float().cpu().numpy().tobytes()).hexdigest()
    key = f"dashboards:umap:{digest}:{seed}"
    layout = cache.get(key)
    if layout is not None:
        return layout
    with transaction.atomic():
        ledger_lock(key=key)  # released at commit, after the layout is in the cache
        layout = cache.get(key)
        if layout is None:
            layout = compute(w_dec, seed=seed)
            cache.set(key, layout, timeout=LAYOUT_CACHE_SECONDS)
    return layout


def _decorate(d: dict, nb_idx, nb_val, nb_start: int, layout, hook_name: str, corpus: str) -> dict:
    i = d["feature_index"]
    if nb_idx is not None:
        d["topk_cos_sim_indices"] = nb_idx[i - nb_start].tolist()
        d["topk_cos_sim_values"] = nb_val[i - nb_start].tolist()
    if layout is not None:
        d["umap_x"], d["umap_y"], d["umap_cluster"] = layout[0][i], layout[1][i], layout[2][i]
    d["umap_log_feature_sparsity"] = math.log10(d["frac_nonzero"]) if d["frac_nonzero"] > 0 else None
    d["hook_name"] = hook_name
    for a in d["activations"]:
        a["data_source"] = corpus
    return d


@transaction.atomic
def _source_mark(*, source, corpus: str, n_prompts: int, ctx_len: int) -> None:
    type(source).objects.filter(pk=source.pk).update(
        dataset=corpus[:300], num_prompts=n_prompts, num_tokens_in_prompt=ctx_len, has_dashboards=True
    )
