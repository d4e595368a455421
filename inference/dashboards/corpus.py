"""Corpora for dashboard generation, turned into a ``[n_prompts, ctx_len]`` token tensor.

A corpus is named by a string:

- ``pydoc`` — the English documentation text that ships with Python (``pydoc_data.topics``);
  the offline corpus, always available.
- a path to a ``.txt`` file (one document), a ``.jsonl`` file (one JSON object per line with a
  ``text`` field) or a folder of such files.
- ``hf:<dataset>[:<split>]`` or any other name — a Hugging Face dataset loaded with ``datasets``
  (needs the network), streaming its ``text`` column.

Documents are tokenised without special tokens, joined with the EOS token (when the tokenizer
has one) and cut into rows of ``ctx_len - 1`` tokens, each prefixed by BOS — the same layout as
sae_lens' activation store and SAEDashboard's Neuronpedia runner.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

PYDOC = "pydoc"


class CorpusError(ValueError):
    """A corpus that cannot be read; the message says what is wrong."""


def corpus_texts(name: str) -> Iterator[str]:
    """Yield the documents of corpus ``name`` (see the module docstring)."""
    if not name:
        raise CorpusError("corpus name is empty")
    if name == PYDOC:
        from pydoc_data.topics import topics

        for key in sorted(topics):
            yield topics[key]
        return
    path = Path(name).expanduser()
    if path.exists():
        files = (
            sorted(p for p in path.rglob("*") if p.suffix in {".txt", ".jsonl"}) if path.is_dir() else [path]
        )
        if not files:
            raise CorpusError(f"corpus folder {path} holds no .txt or .jsonl files")
        for file in files:
            yield from _file_texts(file)
        return
    if name.startswith(("/", "./", "../", "~")) or name.endswith((".txt", ".jsonl")):
        raise CorpusError(f"corpus file {name} does not exist")
    yield from _hf_texts(name.removeprefix("hf:"))


def _file_texts(path: Path) -> Iterator[str]:
    if path.suffix == ".txt":
        yield path.read_text(encoding="utf-8", errors="replace")
    elif path.suffix == ".jsonl":
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise CorpusError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from exc
                if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                    raise CorpusError(f'{path}:{lineno}: expected an object with a "text" string')
                yield row["text"]
    else:
        raise CorpusError(f"corpus file {path} must end in .txt or .jsonl")


def _hf_texts(spec: str) -> Iterator[str]:
    dataset, _, split = spec.partition(":")
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - datasets is a dependency
        raise CorpusError("the `datasets` package is needed for Hugging Face corpora") from exc
    try:
        ds = datasets.load_dataset(dataset, split=split or "train", streaming=True)
    except Exception as exc:  # network errors, unknown names: report them as a corpus problem
        raise CorpusError(
            f"could not load Hugging Face dataset {dataset!r} ({type(exc).__name__}: {exc}); "
            "offline, use --corpus pydoc or a local .txt/.jsonl file"
        ) from exc
    for row in ds:
        text = row.get("text")
        if isinstance(text, str):
            yield text


def tokenize_corpus(tokenizer, name: str, *, n_prompts: int, ctx_len: int, prepend_bos: bool = True):
    """Token rows ``[n, ctx_len]`` (``n <= n_prompts``) of corpus ``name`` as an int64 tensor."""
    import torch

    if ctx_len < 2:
        raise CorpusError("ctx_len must be at least 2")
    if n_prompts < 1:
        raise CorpusError("n_prompts must be at least 1")
    bos = tokenizer.bos_token_id
    if prepend_bos and bos is None:
        raise CorpusError("the tokenizer has no BOS token; pass prepend_bos=False")
    eos = tokenizer.eos_token_id
    body = ctx_len - 1 if prepend_bos else ctx_len
    need = n_prompts * body
    stream: list[int] = []
    for text in corpus_texts(name):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        stream.extend(ids)
        if eos is not None:
            stream.append(eos)
        if len(stream) >= need:
            break
    n = min(n_prompts, len(stream) // body)
    if n == 0:
        raise CorpusError(f"corpus {name!r} has fewer than {body} tokens")
    rows = torch.tensor(stream[: n * body], dtype=torch.long).view(n, body)
    if prepend_bos:
        rows = torch.cat([torch.full((n, 1), bos, dtype=torch.long), rows], dim=1)
    return rows


def tokens_checksum(tokens) -> str:
    """A short stable hash of a token tensor (part of the resume ledger key)."""
    return hashlib.sha256(tokens.cpu().numpy().astype("int64").tobytes()).hexdigest()[:16]
