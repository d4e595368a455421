"""Benchmark: our dashboard generator vs the real SAEDashboard 0.8.0 (SaeVisRunner +
NeuronpediaConverter), same tiny model, SAE and corpus tokens saved to disk, in one run.

SAEDashboard needs transformer-lens < 3, transformers < 4.57 and pyarrow < 19, which conflict with
ours, so it is installed into its own virtualenv (bench/.peer-venv, gitignored; torch 2.13.0 first
so the local CPU wheel is used). Not a test.

    .venv/bin/python bench/dashboards/run.py [--d-sae 2048 --n-prompts 512 --ctx-len 64]
    .venv/bin/python bench/dashboards/run.py --no-peer --no-workers --no-db  # headline: toy + realistic, ~1 min

Prints three figures, each against a baseline timed in the same run:

1. ours vs the limit: the bare model forward + SAE encode over the same tokens (no dashboard
   work; the better of two runs around ours). Goal: ours <= 1.5x that. "Ours" is everything up to
   what the writer sends to PostgreSQL: the engine's arrays (``compute_dashboards_arrays``), the
   feature rows validated and the activation rows in binary COPY form per ledger batch of 256
   (``copyrows.SnippetEncoder``), and the decoder neighbours; sections are printed. The same
   result as SAEDashboard-shaped Python dicts is timed apart (not part of ours) and used for
   the overlap below.
2. SAEDashboard / ours (goal >= 10x in every run), with the overlap of the top activation group
   (same prompt and token) per feature.
3. 2 job workers vs 1 on the same source (``workers.py``: a real database, Procrastinate worker
   processes, 2 shards; skip with ``--no-workers``).
4. (added 2026-11-28 by D5; skip with ``--no-db``) ours *written*: ``dashboards_generate`` into a
   real database (``neuronsite_bench``), from after the model load until every batch is committed
   and visible, overlapped (``piece_batches=2``: the engine's pieces of 2 ledger batches computed
   in a thread while the caller writes the piece before) vs serial (one piece: compute all, then
   write), interleaved, the better of two each, against the limit; the client's CPU seconds and
   the PostgreSQL backend's are printed beside every run.

Figures measured (2026-11-28, the shared 2-core machine, load average 5-15 from ~6 other helpers'
work; table in README "Benchmarks"): ours / limit 1.64x, 2.28x, 1.07x in three full runs (heavy
load slows the limit's forward more than ours, so these flatter ours) and 3.96x in a fourth at
load 5 (the fairest: the 1.5x goal is NOT met); SAEDashboard 1,771.6 s once (``--peer-from``
reuses it): 26-182x ours, overlap 98.2%; 2 workers vs 1: 1.05x, 1.58x, 1.05x.
Quiet re-measure after the merge (2026-11-28 02:16 UTC, load average 3-4, main 6f21839, default sizes,
SAEDashboard from peer.json of the loaded run): ours 2.73 s, limit 0.39 s, ours/limit 7.08x (goal
1.5x: NOT met); 2 workers vs 1 (workers.py defaults) 0.91x. The SAEDashboard ratio (648x) compares
against a run at load 10-15 and is not a fair figure.

2026-11-28 (helper D4, 03:15-05:00 UTC; the machine was shared all along, load average 6-12, so
every wall figure below is inflated and noisy; CPU times are printed beside them now). Profiled
(cProfile, single thread, CPU time) at the default size: pass2 was 60% of ours (an int64
``floor`` kept its bin loop scalar), pass1 15% (its loops over whole arrays did not vectorise),
the COPY rows 20% (~100,000 Python slices of the row tails, then ``normalize_features``, which is
in features/ and kept). Fixed in ``kernels.py``/``copyrows.py``/``arrays.py`` with identical
outputs (the dashboard tests pass unchanged): pass1 one loop over slices of the feature range
(3.6x less CPU), pass2 int32 bins and local counts, interval counts without a scatter (6x), rows
assembled by a compiled copy loop, the feature dicts' lists built for all features at once. The
kernels are cached on disk (``cache=True``) and loaded before the timer (``kernel load``, 1.2-1.6 s
per process; compiling them the first time on a machine takes ~35 s). Same conditions, one
thread, CPU seconds (``/tmp`` copy of main 7f4c27c vs this branch): compute 3.25-3.69 -> 1.26-1.33,
COPY rows 0.52-0.98 -> 0.52-0.59, the limit 0.67-0.89. Runs of this script, default sizes:
(1) load 8.8-10.6: ours 24.35 s, limit 13.74 s, 1.77x (before the last two commits);
(2) load 6.5-7.7: ours 5.01 s, limit 8.81 s, 0.57x (the limit's 2 OpenMP threads starved);
(3) load 5.5-8.8: ours 29.16 s (CPU 11.0 s), limit 4.95 s (CPU 3.0 s), 5.89x;
(4) ``--threads 1``, load 8.3: ours 4.47 s (CPU 1.92 s), limit 1.34 s (CPU 0.61 s), 3.34x.
Runs (1)-(4) loaded a fresh model for ours and for each limit; a fresh model's first passes
cost 6-14 s of CPU for a 0.4 s limit (seen at load 2), landing on whichever ran first, so the
script now loads the model once per process (``load_assets``) and does an untimed limit run
first. With that, at load 1.7-3.2 (04:34-04:36 UTC): (5) ours 2.15 s (CPU 2.62 s), limit 0.43 s:
5.00x; (6) ours 7.60 s, limit 5.83 s: 1.30x (everything, the limit too, ran 4-15x slower in
bursts: CPU time rose with wall time, so another tenant of the cores, not waiting); main 7f4c27c
with this script, same minute: ours 7.24 s (CPU 6.88 s), limit 1.71 s: 4.23x. prof (one process,
2 threads, load 2.4, warm): ours 1.36 s and 1.72 s, limits 0.41 s and 0.29 s (about 4x). (7) the
full command below, load 2.8-3.9: ours 4.21 s (CPU 3.84 s), limit 1.38 s: 3.04x; SAEDashboard on
128 prompts 141.19 s vs ours 1.08 s: 130.5x, overlap 93.8%. The
1.5x goal is NOT met at the default size (about 4-5x when warm and quiet); the quiet
re-measure decides. At a realistic width (``--d-model 512 --d-sae 4096``, extra
figure, load 5.6-7.4): ours 26.01 s (CPU 20.8 s), limit 18.91 s (CPU 13.7 s): 1.38x (CPU 1.52x).
SAEDashboard in the same run (``--peer-n-prompts 128``: ours and the peer again on 128 prompts,
same d_sae/ctx_len/model): run (1) 338.6 s vs ours 3.99 s = 84.9x; run (2) 395.3 s vs ours 2.81 s
= 140.6x (load 6.4-8.6); top-group overlap 93.8% at 128 prompts (>= 10x met in both runs).
2 workers vs 1 (``workers.py`` defaults, load ~8): 29.36 s vs 51.07 s = 0.57x. Why a slowdown on
2 cores: the shards split the features, so each shard runs the model forward and the SAE encode
over the whole corpus: 2 shards cost the same compute under 1 or 2 workers; 1 worker with 2
threads already keeps both cores busy (torch and the kernels split over 2 threads), and 2 workers
add a second process (its own model, database connections and activation cache, the memory
bandwidth shared) with nothing more to run in parallel. Workers pay off with more cores or
machines than one worker's threads use.

    .venv/bin/python bench/dashboards/run.py --peer-n-prompts 128   # all three figures
Quiet re-measure after the merge (2026-11-28 04:52 UTC, load average 4.7 falling to 1.8, main 94230a8,
``--peer-n-prompts 128``): default size ours 2.73 s (compute 1.58 s, COPY rows 1.13 s, neighbours
0.01 s; CPU 3.84 s), limit 0.41 s: ours / limit 6.64x (goal <= 1.5x: NOT met; the numba cache was
cold: 12.2 s of kernel load before the timer). 128 prompts in the same run: ours 1.35 s (COPY rows
1.03 s of it), SAEDashboard 0.8.0 53.65 s: 39.8x (goal >= 10x: met), top-group overlap 93.8%.
2 workers vs 1 (workers.py defaults): 13.12 / 11.96 s = 1.10x.

2026-11-28 (helper D5, 05:50-07:00 UTC; load average 5-14 the whole time from other helpers,
except 1.1-1.8 at 05:50, so every wall figure below is inflated 10-40x and only CPU seconds and
same-run ratios mean anything). Profiled single-threaded (cProfile, quiet minute, warm): the
limit costs 0.71-0.95 CPU-s, ours' compute 1.37-1.55 CPU-s; the extra is pass2 0.37, pass1 0.11,
sample_merge 0.07, gather_rows 0.06, the logit top-k/histogram ~0.08 (the forward and encode are
the limit's own); encoding the COPY rows from the arrays 0.32 CPU-s. New: pass 2 runs piece by
piece over the features (``engine.iter_dashboards_arrays``, exactly the arrays of one pass: the
keys are drawn for all the features batch by batch; test in test_dashboards_engine.py), and
``dashboards_generate`` writes piece k in the calling thread (its connection and transaction)
while piece k+1 computes in a thread; figure 4 above measures the written path, which the
earlier figures left out. The PostgreSQL side, measured on the backend process: writing the 92,107
rows (106 MB binary COPY) costs 1.9-2.8 CPU-s per run, of which the COPY into features_activation
alone 1.55 CPU-s (0.9 into a table without its index and foreign key: parsing the ``text[]`` and
``float4[]`` arrays), so the written figure cannot reach 1.5x the 0.4 s limit at the default size
on 2 cores whatever the client does: PostgreSQL's ingest alone is ~4-5x the limit. Runs:
(1) ``--peer-n-prompts 128``, load 7-14: ours 21.24 s (CPU 9.07 s), limit 6.01 s: 3.54x; written
overlapped 12.86 s (client CPU 3.45 s, backend 2.24 s) vs serial 13.77 s: 1.07x; SAEDashboard
511.36 s vs ours 9.89 s on 128 prompts: 51.7x (>= 10x met), top-group overlap 93.8%; 2 workers vs
1: 43.63 / 41.50 s = 1.05x. (2) ``--no-peer --no-workers``, load 6.5-6.8: ours 23.60 s (CPU
8.43 s), limit 12.52 s: 1.88x; written overlapped 12.85 s (CPU 2.95 s + backend 2.53 s) vs serial
10.72 s (3.03 + 2.32 s): 0.83x, i.e. no gain from the overlap on a saturated machine (no idle
core for PostgreSQL to use); written / limit 1.03x only because the limit ran 30x slow. (3)
realistic width ``--d-model 512 --d-sae 4096 --no-peer --no-workers``, load 4.8-6.4: ours 33.38 s
(CPU 20.95 s), limit 21.15 s (CPU ~16 s): 1.58x; written overlapped 29.74 s (CPU 12.8 s +
backend 5.2 s) vs serial 23.45 s: 0.79x, written / limit 1.41x. Verdict: the overlap is in place
and output-identical, but on this loaded 2-core machine it showed no gain (the same CPU seconds
either way, wall noise of +-40%); the quiet re-measure decides, and the default-size goal (<= 1.5x
with the rows committed) is out of reach by PostgreSQL's ingest cost alone. (4) ``--threads 1
--no-peer --no-workers`` (no OpenMP threads spinning against the other tenants: the saner figures
of the day), load 4.4-4.9, 06:51 UTC: ours 2.30 s (CPU 1.79 s), limit 0.68 s: 3.36x; written
overlapped 5.72 s / 5.97 s (client CPU 2.1-2.8 s, backend 1.8-1.9 s) vs serial 4.66 s / 7.84 s,
written / limit 8.35x. The overlap needs an idle core for PostgreSQL, which this machine did not
have all session.
Quiet re-measure after the merge of D5 (2026-11-28 07:18 UTC, main c9edfa2, load average 6.1 falling
to 2.1, ``--peer-n-prompts 128``): ours 1.53 s (compute 1.04 s, COPY rows 0.47 s, neighbours
0.02 s; CPU 2.39 s), limit 0.33 s: 4.62x (was 6.64x; goal <= 1.5x: NOT met). Written into
PostgreSQL until committed: overlapped 5.11 s, serial 4.18 s (overlapping 0.82x as fast: the
ingest and the compute compete for the 2 cores), written / limit 15.4x; so
``dashboards_generate`` now writes one piece per pass by default (``piece_batches=None``; the
option stays). SAEDashboard on 128 prompts 50.42 s vs ours 0.86 s: 58.9x (goal >= 10x: met),
top-group overlap 93.8%. 2 workers vs 1 (workers.py): 16.11 / 12.63 s = 0.78x (see above why
shards do not pay off on 2 cores).

2026-11-28 (helper D6, 08:37-10:00 UTC; load average 2-14 from other helpers all along, so the wall
figures below are noise and the 2-thread ones worst: with torch's default OpenMP policy its
threads spin between operations, and on a busy machine the limit alone took 1-52 s for the same
work: at load ~4 the limit ran 3.4-7.4 s by default and 1.0-1.4 s with OMP_WAIT_POLICY=PASSIVE;
single-thread CPU seconds are the figures to trust). Profiled first (cProfile, timers around every
kernel, the forward and the encode): the bench SAE fires on 45% of the (token, feature) pairs (a
random tiny SAE: half its pre-activations are positive), so a sparse (value, token, feature) list
would be three times the bytes of the dense matrix: working "per non-zero" does not pay at this
density (it would for a trained SAE's <1%: not done). The kernels already split over feature ranges
on torch's thread count (D4); what fought them was the hand-over after every batch, while torch's
OpenMP threads still spin. Done, same outputs (the dashboard tests unchanged, 21 passed 3x; the
default and the realistic-width bench arrays, dicts and COPY rows hashed equal to main's):
(1) pass 2 keeps a bit set per prompt of the intervals it holds a token in instead of every
prompt's max and position per interval; the qualifying token of the interval snippets kept is found
from their rows at the end (``gather_rows``/``interval_positions``): pass2 0.24-0.29 -> 0.16-0.20
CPU-s, sample_merge 0.045 -> 0.032 (gather_rows +0.02); (2) with the feature activations kept,
the kernels of pass 1 and pass 2 run once over all the batches per thread (one hand-over from torch
instead of one per batch), snippet rows gathered over the threads; (3) the COPY rows: one compiled
loop writes every row (head, a constant tail template, the values byte-swapped by words, max /
first index / min in the same sweep) in a thread while the feature rows are validated (Python):
COPY rows 0.36-0.46 s -> 0.20-0.23 s when not starved. Sections, single thread, CPU-s, load 2.2-3.0,
main / this branch interleaved, 3 runs each: compute 1.10-1.33 / 0.98-1.12 (forward + encode, the
limit's own work, 0.6-0.9 of it). Runs of this script (main = 9ceac22 copied to /tmp vs this
branch, interleaved, same minutes): ``--threads 1 --no-peer --no-workers --no-db``, load 2.3-2.9:
branch ours 1.79 s (compute 1.53, COPY 0.23; CPU 1.87 s), limit 0.67 s: 2.67x; main 1.70 s
(compute 1.33, COPY 0.36; CPU 1.56 s), limit 0.57 s: 3.00x; at load 6-13: branch CPU 1.91 / 1.68 s,
main 1.95 / 1.87 s. Default (2 threads) ``--peer-n-prompts 128``: branch at load 10 -> 4: ours
9.67 s (CPU 4.89 s), limit 5.28 s: 1.83x, SAEDashboard 165.67 s vs ours 1.98 s: 83.5x; main at
load 4 -> 8: ours 7.37 s (CPU 5.14 s), limit 4.04 s: 1.83x, SAEDashboard 227.51 s vs 2.61 s: 87.2x;
again (``--no-workers``) branch at load 5.6: ours 20.96 s (CPU 9.67 s), limit 7.81 s: 2.68x,
SAEDashboard 232.36 s vs ours 11.41 s: 20.4x; main at load 4.7: ours 12.89 s (CPU 9.07 s), limit
2.57 s: 5.01x, SAEDashboard 107.78 s vs 2.05 s: 52.6x (>= 10x met in all four; top-group overlap
93.8% in all). Written (overlapped / serial): branch 4.33 / 4.35 s and 9.06 / 9.70 s, main 4.70 /
4.84 s. 2 workers vs 1: 0.74x (branch), 0.76x (main). Realistic width ``--d-model 512 --d-sae 4096
--no-peer --no-workers --no-db``: branch at load 4-8 ours 61.78 s (CPU 20.17 s), limit 35.51 s (CPU
15.8-18.1 s): 1.74x; main at load 7-14 ours 61.67 s (CPU 19.39 s), limit 52.39 s (CPU 16.0-17.3 s):
1.18x (CPU ratio ~1.1-1.3x either way: at this width forward + encode are most of the work). The
1.5x goal at the default size is NOT shown met: the quiet re-measure decides; the extras beyond
forward + encode are now ~0.35 CPU-s of compute plus ~0.2 s of COPY rows against a 0.33-0.6 s
limit.
Quiet re-measure after the merge of D6 (2026-11-28 10:08-10:18 UTC, main 51b5d3c): the full run
(``--peer-n-prompts 128``, right after bench/load, load average 4.7 falling to 1.3; the numba
cache cold for D6's new kernels, 11.1 s of kernel load before the timer): ours 2.58 s (compute
0.61 s, COPY rows 1.97 s), limit 0.29 s: 8.91x; written overlapped 3.91 s vs serial 4.29 s;
SAEDashboard on 128 prompts 63.74 s vs ours 0.51 s: 124.8x (goal >= 10x: met), top-group overlap
93.8%; 2 workers vs 1: 0.99x. Two more runs of the default figure alone (``--no-peer --no-workers
--no-db``, load 1.3-1.4): ours 3.45 s (compute 3.18 s, COPY rows 0.25 s; CPU 4.11 s), limit 0.31 s:
11.01x; then ours 1.05 s (compute 0.75 s, COPY rows 0.28 s; CPU 1.84 s), limit 0.30 s: 3.45x. The
compute is bimodal on a quiet machine (0.6-0.75 s or ~3.2 s for the same work), which points at
the hand-over between torch's OpenMP threads and the kernel threads (D6 saw the same under load;
``OMP_WAIT_POLICY=PASSIVE`` is not set by this bench). The 1.5x goal is NOT met (best 3.45x).

2026-11-28 (helper D7, 11:07-12:50 UTC, load 1.3-8 from other tenants). The bimodal compute was torch's
libgomp threads spinning (~300,000 pauses after each operation) while another process held a core:
the slow runs' extra time was all in the forward + encode (passes unchanged), CPU = wall on one core,
5,000-12,000 involuntary switches (35 when fast), no THP/compaction events; the limit loop beside a
busy process took 1.3-7.7 s by default, 0.65-1.2 s with ``OMP_WAIT_POLICY=PASSIVE`` (quiet 0.40 vs
0.45 s). This script and ``generate_dashboards`` set it before torch loads, as run_jobs_worker did
(``--spin``: torch's default; load 2-3: limit 5.88 / 10.74 s, ours 17.63 / 4.86 s vs PASSIVE 0.63 /
0.49 s, 1.91 / 1.35 s). New: a ``blocks.L.hook_resid_pre`` source stops the model before block L
(ours and the limit: one block less), pass 2 skips the zeros of sparse rows, ``--density`` and a
second line (``--real``: d_model 512, d_sae 4096, 1.01% density). Outputs hashed equal to main. COPY
rows were already two-way (compiled writer || Python feature rows, the longer). Load 1.3, this branch
vs main b15d8a3's engine, same script: toy ours 1.05 / 1.08 s (main 1.10), limit 0.20 / 0.28 s (0.42):
5.25x / 3.86x (2.63x); realistic ours 4.30 / 4.20 s (6.10; CPU 7.0 vs 10.5 s), limit 2.37 / 2.49 s
(3.90): 1.82x / 1.68x (1.57x). The 1.5x goal is NOT met: the toy's passes and rows cost ~0.6 CPU-s
against a 0.4-0.7 CPU-s forward + encode; at the realistic shape the COPY rows (~1 s) are the most.
Quiet re-measure after the merge of D7 (2026-11-28 12:35-12:39 UTC, main 96687ef, load 5.8 falling
to 1.4, every other PostgreSQL stopped), three runs (two ``--no-peer --no-workers --no-db``, one
``--peer-n-prompts 128``): toy ours 0.91 / 0.81 / 0.88 s (compute 0.64-0.68 s every time: no slow
mode), limit 0.25 / 0.17 / 0.28 s: 3.57x / 4.63x / 3.14x; realistic ours 4.80 / 3.49 / 3.81 s, limit
2.08 / 2.07 / 2.00 s: 2.30x / 1.69x / 1.90x; written overlapped 3.07 s vs serial 3.41 s; SAEDashboard
56.34 s vs ours 0.37 s on 128 prompts: 151.2x (overlap 93.8%); 2 workers vs 1: 11.98 / 10.64 s =
1.13x. The 1.5x goal is NOT met at either shape.

2026-11-28 (helper D8, 13:31-15:00 UTC, load 2-11). Realistic shape, CPU-s, one thread, warm: forward 2.4-2.9 +
encode 2.0 (the limit's work), pass 2 0.20-0.29, pass 1 0.15-0.22, gather_rows 0.11-0.15, sample_merge 0.06-0.08,
top_merge 0.03, logits < 0.01; COPY rows: compiled writer 0.14-0.22 || feature rows 0.25-0.37 (feature_dicts +
normalize_features), layout 0.05. Two costs outside our code: the generation faulted 330,000-520,000 pages (1.2-1.7
CPU-s in the kernel; the warm limit none: glibc maps each ~34 MB batch tensor afresh and unmaps it on free), and a
full cyclic GC (0.35 CPU-s over a torch process's ~660,000 objects) hit the feature rows in one run of two. Done,
outputs hashed equal to main 044eaa5 at both shapes (arrays, COPY bytes, feature rows by repr): the engine raises
glibc's mmap/trim thresholds once per process (``memory.py``; warm faults ~0, first run 0.3-0.4 CPU-s; this script
sets them first so the limit shares them), GC paused while feature rows are built, feature rows checked once on the
arrays and per column (``featurerows.py``, else normalize_features: 0.11-0.14 CPU-s). One thread: compute 4.29 vs
limit 3.79 CPU-s. ``--no-peer --no-workers --no-db``, main / branch interleaved, load 2.1-2.9: toy 2.79x, 2.49x /
2.59x, 3.88x; realistic 2.08x, 2.00x (COPY rows 1.02, 0.97 s; CPU 7.5 s) / 1.46x, 1.75x (ours 4.89, 3.28 s, COPY
rows 0.35, 0.26 s; CPU 5.7-5.9 s); at load 3.4-7.2 main 1.70x, 2.88x / branch 1.92x, 1.84x. Left: first-run faults
of the kept 537 MB of feature activations and the passes (~0.5 s on one core). 1.5x NOT reliably met.
2026-11-28 (helper D9, 14:55-15:06 UTC, load 0.8-5.7; one process per run, first generation after two limit runs, realistic
shape). Two exact levers tried (arrays hashed equal), neither kept: (1) torch's THP_MEM_ALLOC_ENABLE=1 (2 MB-aligned,
madvised tensors; THP is "madvise" here): faults 155,000-258,000 -> 12,000-15,000, but user + sys CPU-s 4.76-5.39 vs
4.58-5.45 without (the zeroing remains; defrag=madvise compacts on fault); (2) pass 1 per batch right after its encode
(the 34 MB batch hot in the 300 MB L3; PASSIVE threads make the hand-over cheap now): pass 1 0.21-0.25 vs 0.20-0.25
CPU-s. Faults of the kept activations cost 0.3-1.0 sys-s on a first run (0-0.25 warm); only kernels that read a
compact (value, feature) form can remove them (densifying into a reused buffer pays the same zeroing as a memset). Not
done in this round; 1.5x not re-measured (no wall run taken).
Quiet re-measure after the merge of D8 (2026-11-28 15:27-15:32 UTC, main 64dc533, load 4.4 falling
to 1.6, every other PostgreSQL stopped), three runs (two ``--no-peer --no-workers --no-db``, one
``--peer-n-prompts 128``): realistic ours 3.25 / 3.94 / 4.20 s, limit 2.18 / 2.60 / 2.47 s: 1.49x /
1.51x / 1.70x; toy ours 0.89 / 0.95 / 1.00 s, limit 0.21 / 0.25 / 0.21 s: 4.16x / 3.75x / 4.86x;
SAEDashboard 76.72 s: 113.1x; 2 workers vs 1: 1.21x. The 1.5x goal is NOT met.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "neuronsite.settings")
os.environ.setdefault("EMBEDDED_DB_NAME", "neuronsite_bench")  # the written figure's database
PEER_VENV = ROOT / "bench" / ".peer-venv"
PEER_PACKAGES = ["sae-dashboard==0.8.0", "transformer-lens<3", "transformers<4.57", "pyarrow<19"]


def ensure_peer() -> Path:
    python = PEER_VENV / "bin" / "python"
    stamp = PEER_VENV / ".installed"
    if stamp.exists():
        return python
    subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "torch==2.13.0"], check=True)
    subprocess.run([*pip, *PEER_PACKAGES, "torch==2.13.0"], check=True)
    # A dependency pulls a torchvision built for another torch; transformers then fails to import
    # (torchvision::nms missing). SAEDashboard does not need it.
    subprocess.run([str(python), "-m", "pip", "uninstall", "--quiet", "-y", "torchvision"], check=False)
    stamp.touch()
    return python


def build_assets(
    out: Path,
    *,
    d_sae: int,
    n_prompts: int,
    ctx_len: int,
    d_model: int = 64,
    n_layers: int = 2,
    density: float | None = None,
) -> None:
    import torch

    from inference.dashboards.corpus import tokenize_corpus
    from inference.testing import build_tiny_model, build_tiny_sae

    if (out / "tokens.pt").exists():
        return
    model_dir = build_tiny_model(
        out / "model", n_layers=n_layers, d_model=d_model, n_ctx=ctx_len, vocab_size=1024
    )
    hook = f"blocks.{n_layers - 1}.hook_resid_pre"
    build_tiny_sae(out / "sae", d_in=d_model, d_sae=d_sae, hook_name=hook, model_name="bench")
    from transformers import AutoTokenizer

    tokens = tokenize_corpus(
        AutoTokenizer.from_pretrained(str(model_dir)), "pydoc", n_prompts=n_prompts, ctx_len=ctx_len
    )
    if density is not None:
        shape_density(out, tokens, hook, density)
    torch.save(tokens, out / "tokens.pt")


def shape_density(out: Path, tokens, hook: str, density: float) -> None:
    """Shift the saved SAE's ``b_enc`` so that it fires like a trained SAE: feature ``f`` on a
    fraction ``d_f`` of the tokens, log-uniform over a 25x range and scaled to average ``density``
    (a few rare and a few common features), instead of the random SAE's ~45% of (token, feature)
    pairs. Each feature's threshold is its pre-activation quantile over the first 128 prompts."""
    import math

    import torch
    from safetensors.torch import load_file, save_file

    from inference.loading import load_model

    class Row:
        name = "bench"
        local_path = str(out / "model")
        tl_model_name = ""

    model = load_model(Row(), device="cpu", dtype="float32")
    weights_path = out / "sae" / "sae_weights.safetensors"
    w = load_file(weights_path)
    cfg = json.loads((out / "sae" / "cfg.json").read_text())
    layer = int(hook.split(".")[1])
    with torch.inference_mode():
        _, cache = model.run_with_cache(tokens[:128], names_filter=hook, stop_at_layer=layer + 1)
        x = cache[hook][:, 1:].reshape(-1, w["W_enc"].shape[0])  # the BOS positions left out
        x = x - w["b_dec"] if cfg.get("apply_b_dec_to_input", True) else x
        pre = x @ w["W_enc"] + w["b_enc"]  # [T, F]
        gen = torch.Generator().manual_seed(1)
        lo, hi = math.log(density / 5), math.log(density * 5)
        target = torch.exp(lo + (hi - lo) * torch.rand(pre.shape[1], generator=gen))
        target = target / target.mean() * density
        sorted_pre = pre.sort(dim=0, descending=True).values
        k = (target * pre.shape[0]).long().clamp(0, pre.shape[0] - 1)
        threshold = sorted_pre[k, torch.arange(pre.shape[1])]
        w["b_enc"] = (w["b_enc"] - threshold).contiguous()
    save_file(w, weights_path)


_LOADED: dict[Path, tuple] = {}


def load_assets(out: Path) -> tuple:
    """The model, SAE and tokens, loaded once per process and shared by the limit and ours: a
    freshly loaded model's first passes cost several times the later ones (seen: 6-14 s of CPU
    for a 0.4 s limit), which landed on whichever ran first on its own copy."""
    if out not in _LOADED:
        import torch

        from inference.loading import load_model, load_sae

        class Row:  # what the loaders read from a Model / Source row
            name = "bench"
            local_path = str(out / "model")
            tl_model_name = ""

        class SaeRow:
            name = "bench"
            local_path = str(out / "sae")

        model = load_model(Row(), device="cpu", dtype="float32")
        sae = load_sae(SaeRow(), device="cpu", dtype="float32")
        _LOADED[out] = (model, sae, torch.load(out / "tokens.pt"))
    return _LOADED[out]


def run_ours(out: Path, threads: int) -> tuple[float, list[dict]]:
    import django

    django.setup()
    import torch

    from inference.dashboards import kernels
    from inference.dashboards.copyrows import SnippetEncoder
    from inference.dashboards.engine import DashboardConfig, compute_dashboards_arrays, decoder_neighbours

    torch.set_num_threads(threads)
    # The engine's compiled kernels load once per process (compiled on the first run on a
    # machine), like the model: before the timer. Printed, so that the cost is on record.
    warm_start = time.perf_counter()
    kernels.warm()
    print(f"kernel load (once per process, not timed): {time.perf_counter() - warm_start:.2f}s")

    model, sae, tokens = load_assets(out)
    tok = model.tokenizer
    vocab = tok.convert_ids_to_tokens(list(range(len(tok))))
    hook = sae.cfg.metadata.hook_name
    d_sae = sae.cfg.d_sae
    sections = {}
    start, cpu_start = time.perf_counter(), time.process_time()
    arrays = compute_dashboards_arrays(
        model=model, sae=sae, hook_name=hook, tokens=tokens,
        feature_indices=range(d_sae), vocab=vocab,
        config=DashboardConfig(ignore_token_ids=frozenset({tok.bos_token_id, tok.eos_token_id, tok.pad_token_id})),
    )  # fmt: skip
    sections["compute (forward, encode, passes, snippets as arrays)"] = time.perf_counter() - start
    mark = time.perf_counter()
    # what the writer sends to PostgreSQL: feature rows validated, activation rows in binary COPY
    # form, per ledger batch of 256 features (as generate_dashboards does, minus the database)
    encoder = SnippetEncoder(arrays, data_source="pydoc")
    created = datetime.now(UTC)

    def decorate(d):
        d["hook_name"] = hook
        return d

    n_rows = n_bytes = 0
    for a in range(0, d_sae, 256):
        prepared = encoder.prepare(
            a, min(a + 256, d_sae), decorate=decorate, d_sae=d_sae, creator_id=None, created_at=created
        )
        n_rows += prepared.n_rows
        n_bytes += len(prepared.rows)
    sections["COPY rows from the arrays"] = time.perf_counter() - mark
    mark = time.perf_counter()
    decoder_neighbours(sae.W_dec, range(d_sae), 10)
    sections["decoder neighbours"] = time.perf_counter() - mark
    total = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    for name, seconds in sections.items():
        print(f"  {name}: {seconds:.2f}s")
    print(f"  (CPU time of this process, all threads: {cpu:.2f}s)")
    print(f"  ({n_rows} activation rows, {n_bytes / 1e6:.1f} MB of COPY data)")
    mark = time.perf_counter()
    feats = arrays.to_dicts()  # for the overlap below, not timed as ours
    print(f"  (the same as SAEDashboard-shaped Python dicts, not in ours: {time.perf_counter() - mark:.2f}s)")
    return total, feats


def _backend_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a PostgreSQL backend process on this machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_written(out: Path, threads: int, *, n_prompts: int, ctx_len: int, piece_batches: int) -> float:
    """Ours end to end: ``dashboards_generate`` on a real database (``neuronsite_bench`` on the
    embedded server, or ``DATABASE_URL``) into a fresh source, from after the model load until
    every batch is committed (neighbours, compute, encode, COPY, ledger; no UMAP). The client's
    CPU time and the PostgreSQL backend's are printed beside the wall time."""
    import django

    django.setup()
    import torch
    from django.core.management import call_command
    from django.db import connection

    from inference.dashboards.services import dashboards_generate
    from inference.testing import register_tiny

    torch.set_num_threads(threads)
    if not getattr(run_written, "migrated", False):
        call_command("migrate", verbosity=0)
        run_written.migrated = True
    stamp = f"{time.strftime('%H%M%S')}-{time.perf_counter_ns() % 10**6}"
    _, _, (source,) = register_tiny(
        model_name="bench-written", model_folder=out / "model", sae_folders={1: out / "sae"},
        set_name=f"res-{stamp}",
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    backend, cpu = _backend_cpu(pid), time.process_time()
    result = dashboards_generate(
        source=source, n_prompts=n_prompts, ctx_len=ctx_len, umap=False, piece_batches=piece_batches
    )
    cpu = time.process_time() - cpu
    backend = _backend_cpu(pid) - backend
    wall = result.seconds["neighbours_umap"] + result.seconds["compute_write"]
    print(
        f"  (written, piece_batches={piece_batches}: {wall:.2f}s after the {result.seconds['load']:.2f}s load; "
        f"CPU this process {cpu:.2f}s incl. the load, PostgreSQL backend {backend:.2f}s; "
        f"{result.activations_written} rows)"
    )
    return wall


def run_limit(out: Path, threads: int) -> float:
    """The floor: forward to the hook and SAE encode over every prompt batch, nothing else."""
    import torch

    torch.set_num_threads(threads)
    model, sae, tokens = load_assets(out)
    hook = sae.cfg.metadata.hook_name
    layer = int(hook.split(".")[1])
    resid_pre = hook.endswith(".hook_resid_pre")  # a block's input: the model stops before the block
    start, cpu_start = time.perf_counter(), time.process_time()
    with torch.inference_mode():
        for i in range(0, tokens.shape[0], 32):
            if resid_pre:
                sae.encode(model(tokens[i : i + 32], stop_at_layer=layer))
            else:
                _, cache = model.run_with_cache(
                    tokens[i : i + 32], names_filter=hook, stop_at_layer=layer + 1
                )
                sae.encode(cache[hook])
    wall = time.perf_counter() - start
    print(f"  (limit run: {wall:.2f}s, CPU time {time.process_time() - cpu_start:.2f}s)")
    return wall


def load_average() -> str:
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def top_group(activations: list[dict]) -> list[tuple]:
    """(prompt tokens, qualifying index) of the top group's snippets whose token activates
    (SAEDashboard pads a rarely-firing feature's top group with zero activations)."""
    return sorted(
        (tuple(a["tokens"]), a["qualifying_token_index"])
        for a in activations
        if a["bin_min"] == -1
        and a["qualifying_token_index"] >= 0
        and a["values"][a["qualifying_token_index"]] > 0
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--d-sae", type=int, default=2048)
    parser.add_argument("--n-prompts", type=int, default=512)
    parser.add_argument("--ctx-len", type=int, default=64)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    # The default model is tiny (2 layers of width 64): its forward + encode is far cheaper than a
    # real model's, so the limit ratio is the hardest there; --d-model 512 --n-layers 6 is closer
    # to the SAEs people publish (the dashboard work per token does not grow with the model).
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--n-layers", type=int, default=2)
    # the SAE's density: by default the random SAE fires on ~45% of the (token, feature) pairs;
    # --density shifts its encoder bias to fire on that mean fraction, as a trained SAE (~0.1-2%)
    parser.add_argument("--density", type=float, help="mean fraction of tokens each feature fires on")
    # a second ours / limit line in the same run at a realistic shape and density (d_model, d_sae,
    # density; same prompts, context and layers); --no-real skips it
    parser.add_argument("--real", default="512,4096,0.01", help="d_model,d_sae,density of the second line")
    parser.add_argument("--no-real", action="store_true", help="skip the realistic-shape line")
    parser.add_argument("--no-peer", action="store_true", help="skip SAEDashboard (and its install)")
    parser.add_argument("--no-workers", action="store_true", help="skip the 2-workers-vs-1 figure")
    parser.add_argument("--no-db", action="store_true", help="skip the written (database) figure")
    # SAEDashboard takes about half an hour at the default sizes on 2 cores: --peer-from reuses the
    # peer.json of an earlier run on the same sizes (printed as such) instead of running it again
    parser.add_argument("--peer-from", type=Path, help="peer.json of an earlier SAEDashboard run")
    # ... or a fair same-run figure at a smaller size: ours and SAEDashboard both timed again on
    # --peer-n-prompts prompts (same d_sae, ctx_len and model), a few minutes for the peer
    parser.add_argument("--peer-n-prompts", type=int, help="run ours and SAEDashboard on this many prompts")
    # torch's OpenMP threads sleep between operations, as in the job worker and generate_dashboards
    # (OMP_WAIT_POLICY=PASSIVE, set before torch loads; ours and the limit alike). --spin keeps
    # torch's default (threads spin ~300,000 pauses before sleeping) for a comparison.
    parser.add_argument("--spin", action="store_true", help="leave OMP_WAIT_POLICY unset (torch's default)")
    # the engine raises glibc's mmap/trim thresholds (inference/dashboards/memory.py) on its
    # first call; the bench does it first, so that the limit runs under the same allocator.
    # --fresh-pages leaves them for the bench's own runs (the engine still sets them when it runs)
    parser.add_argument("--fresh-pages", action="store_true", help="do not raise glibc's thresholds first")
    args = parser.parse_args()
    if not args.spin:
        from neuronsite.openmp import prefer_sleeping_threads

        prefer_sleeping_threads()
    print(f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset: torch default)')}")
    if not args.fresh_pages:  # as the engine sets it on its first call: the limit under the same
        from inference.dashboards.memory import keep_freed_memory

        print(f"glibc thresholds raised (freed memory reused): {keep_freed_memory()}")
    out = assets_dir(args.d_sae, args.n_prompts, args.ctx_len, args.d_model, args.n_layers, args.density)
    build_assets(
        out, d_sae=args.d_sae, n_prompts=args.n_prompts, ctx_len=args.ctx_len,
        d_model=args.d_model, n_layers=args.n_layers, density=args.density,
    )  # fmt: skip
    real = None
    if not args.no_real:
        r_model, r_sae, r_density = args.real.split(",")
        real = assets_dir(
            int(r_sae), args.n_prompts, args.ctx_len, int(r_model), args.n_layers, float(r_density)
        )
        build_assets(
            real, d_sae=int(r_sae), n_prompts=args.n_prompts, ctx_len=args.ctx_len,
            d_model=int(r_model), n_layers=args.n_layers, density=float(r_density),
        )  # fmt: skip
    peer_python = None
    if not args.no_peer and args.peer_from is None:
        try:
            peer_python = ensure_peer()
        except subprocess.CalledProcessError as exc:
            print(f"could not install the SAEDashboard peer ({exc}); only our timing follows")
    print(f"load average before: {load_average()}")
    ours_s, ours, limit_s = ratio_line(out, args)
    if real is not None:
        print(f"realistic shape (d_model,d_sae,density = {args.real}), same prompts:")
        ratio_line(real, args)
    if not args.no_db:
        # ours end to end (rows committed in PostgreSQL), overlapped (pieces of 2 ledger batches
        # written while the next computes) and serial (one piece: compute all, then write),
        # interleaved, each the better of two, with the limit again in the same minutes
        print("written to PostgreSQL (dashboards_generate, a real database), load average", load_average())
        sizes = {"n_prompts": args.n_prompts, "ctx_len": args.ctx_len}
        run_written(out, args.threads, piece_batches=2, **sizes)  # warm-up, not counted
        times = {2: [], 1000: []}
        for pb in (2, 1000, 2, 1000):
            times[pb].append(run_written(out, args.threads, piece_batches=pb, **sizes))
        limit_w = min(run_limit(out, args.threads), limit_s)
        over, serial = min(times[2]), min(times[1000])
        print(f"written, overlapped: {over:.2f}s; serial: {serial:.2f}s ({serial / over:.2f}x); "
              f"written / limit: {over / limit_w:.2f}x (goal <= 1.5x); load average {load_average()}")  # fmt: skip
    if args.peer_from is not None:
        print(f"SAEDashboard: the earlier run in {args.peer_from} (not run again)")
        compare_peer(json.loads(args.peer_from.read_text()), ours, ours_s)
    elif peer_python is not None and args.peer_n_prompts and args.peer_n_prompts != args.n_prompts:
        small = out.with_name(out.name.replace(f"-{args.n_prompts}-", f"-{args.peer_n_prompts}-", 1))
        small.mkdir(parents=True, exist_ok=True)
        build_assets(
            small, d_sae=args.d_sae, n_prompts=args.peer_n_prompts, ctx_len=args.ctx_len,
            d_model=args.d_model, n_layers=args.n_layers, density=args.density,
        )  # fmt: skip
        print(f"SAEDashboard vs ours, both on {args.peer_n_prompts} prompts (same run):")
        small_s, small_ours = run_ours(small, args.threads)
        print(f"ours on {args.peer_n_prompts} prompts: {small_s:.2f}s; load average: {load_average()}")
        run_peer(peer_python, small, args.threads, small_ours, small_s)
        print(f"load average after SAEDashboard: {load_average()}")
    elif peer_python is not None:
        run_peer(peer_python, out, args.threads, ours, ours_s)
    if not args.no_workers:  # the third figure: its own script (a database, job worker processes)
        print("2 job workers vs 1 (bench/dashboards/workers.py, its default sizes):", flush=True)
        subprocess.run([sys.executable, str(Path(__file__).with_name("workers.py"))], check=True)


def assets_dir(d_sae: int, n_prompts: int, ctx_len: int, d_model: int, n_layers: int, density) -> Path:
    size = "" if (d_model, n_layers) == (64, 2) else f"-m{d_model}x{n_layers}"
    shaped = "" if density is None else f"-d{density:g}"
    out = ROOT / "bench" / "out" / f"dashboards-{d_sae}-{n_prompts}-{ctx_len}{size}{shaped}"
    out.mkdir(parents=True, exist_ok=True)
    return out


def ratio_line(out: Path, args) -> tuple[float, list[dict], float]:
    """Figure 1 on the assets in ``out``: limit, ours, limit (the better of the two limits)."""
    # One untimed run first: a fresh process's first passes over these tensor sizes cost several
    # times the later ones (seen: limit 6.7 s, 3.4 s, then 0.4 s in one process at load 2), which
    # fell on ours, timed second.
    print("warm-up (a limit run, not timed):")
    run_limit(out, args.threads)
    limit_s = run_limit(out, args.threads)
    ours_s, ours = run_ours(out, args.threads)
    density = sum(f["frac_nonzero"] for f in ours) / max(len(ours), 1)
    print(f"ours: {ours_s:.2f}s for {len(ours)} features x {args.n_prompts} prompts x {args.ctx_len} tokens "
          f"(mean density {density:.2%})")  # fmt: skip
    limit_s = min(limit_s, run_limit(out, args.threads))
    print(
        f"limit (bare forward + SAE encode): {limit_s:.2f}s; ours / limit: {ours_s / limit_s:.2f}x (goal <= 1.5x)"
    )
    print(f"load average after: {load_average()}")
    return ours_s, ours, limit_s


def run_peer(peer_python: Path, out: Path, threads: int, ours: list[dict], ours_s: float) -> None:
    peer_out = out / "peer.json"
    subprocess.run([str(peer_python), str(Path(__file__).with_name("peer.py")), str(out), str(peer_out),
                    str(threads)], check=True)  # fmt: skip
    compare_peer(json.loads(peer_out.read_text()), ours, ours_s)


def compare_peer(peer: dict, ours: list[dict], ours_s: float) -> None:
    peer_s = peer["seconds"]
    by_index = {f["feature_index"]: f for f in ours}
    shared = total = 0
    for f in peer["batch"]["features"]:
        theirs, mine = top_group(f["activations"]), top_group(by_index[f["feature_index"]]["activations"])
        remaining = list(mine)
        for item in theirs:
            if item in remaining:
                remaining.remove(item)
                shared += 1
        total += len(theirs)
    overlap = shared / max(total, 1)
    print(f"SAEDashboard 0.8.0: {peer_s:.2f}s")
    print(f"speed ratio (SAEDashboard / ours): {peer_s / ours_s:.1f}x")
    print(f"top-group overlap: {overlap:.1%} ({shared}/{total} snippets)", flush=True)


if __name__ == "__main__":
    main()
