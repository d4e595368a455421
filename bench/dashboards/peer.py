"""Runs INSIDE bench/.peer-venv (sae-dashboard 0.8.0, transformer-lens < 3): SAEDashboard's
SaeVisRunner + NeuronpediaConverter (what its Neuronpedia runner calls) on the saved assets.
Usage: peer.py ASSETS_DIR OUT_JSON"""

import json
import sys
import time
from pathlib import Path

import torch
from sae_dashboard.components_config import (
    ActsHistogramConfig,
    Column,
    FeatureTablesConfig,
    LogitsHistogramConfig,
    LogitsTableConfig,
    SequencesConfig,
)
from sae_dashboard.layout import SaeVisLayoutConfig
from sae_dashboard.neuronpedia.neuronpedia_converter import NeuronpediaConverter
from sae_dashboard.neuronpedia.neuronpedia_runner_config import NeuronpediaRunnerConfig
from sae_dashboard.sae_vis_data import SaeVisConfig
from sae_dashboard.sae_vis_runner import SaeVisRunner
from sae_lens import SAE, HookedSAETransformer
from safetensors.torch import load_file
from transformer_lens import HookedTransformerConfig
from transformers import AutoTokenizer

assets, out_path = Path(sys.argv[1]), Path(sys.argv[2])
torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else torch.get_num_threads())
raw = json.loads((assets / "model" / "config.json").read_text())
keys = HookedTransformerConfig.__dataclass_fields__.keys()
cfg = HookedTransformerConfig(
    **{k: v for k, v in raw.items() if k in keys and k not in {"dtype", "n_params"}}
)
tokenizer = AutoTokenizer.from_pretrained(str(assets / "model"))
model = HookedSAETransformer(cfg, tokenizer=tokenizer)
model.load_state_dict(load_file(str(assets / "model" / "model.safetensors")), strict=False)
model.eval()
sae = SAE.load_from_disk(str(assets / "sae"), device="cpu")
tokens = torch.load(assets / "tokens.pt")
hook = json.loads((assets / "sae" / "cfg.json").read_text())["metadata"]["hook_name"]
vocab_dict = {v: k for k, v in tokenizer.vocab.items()}

start = time.perf_counter()
layout = SaeVisLayoutConfig(
    columns=[
        Column(
            SequencesConfig(
                stack_mode="stack-all",
                buffer=None,
                compute_buffer=True,
                n_quantiles=5,
                top_acts_group_size=20,
                quantile_group_size=5,
            ),
            ActsHistogramConfig(),
            LogitsHistogramConfig(),
            LogitsTableConfig(),
            FeatureTablesConfig(n_rows=3),
        )
    ]
)
vis_cfg = SaeVisConfig(
    hook_point=hook,
    features=list(range(sae.cfg.d_sae)),
    minibatch_size_features=128,
    minibatch_size_tokens=32,
    quantile_feature_batch_size=64,
    verbose=False,
    device="cpu",
    feature_centric_layout=layout,
    perform_ablation_experiments=False,
    dtype="float32",
    ignore_tokens={tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id},
)
data = SaeVisRunner(vis_cfg).run(encoder=sae, model=model, tokens=tokens)
np_cfg = NeuronpediaRunnerConfig(
    sae_set="bench",
    sae_path=str(assets / "sae"),
    outputs_dir=str(out_path.parent),
    n_prompts_total=tokens.shape[0],
    n_tokens_in_prompt=tokens.shape[1],
)
np_cfg.model_id, np_cfg.layer = "bench", 0
batch = NeuronpediaConverter.convert_to_np_json(model, data, np_cfg, vocab_dict)
seconds = time.perf_counter() - start
out_path.write_text(json.dumps({"seconds": seconds, "batch": json.loads(batch)}))
print(f"peer: {seconds:.2f}s")
