"""Load: the site under 64 and 500 concurrent clients, against the bare-query limit.

In one run, on its own database of the embedded server (created, then dropped):
  1. data: 100,000 features with 4,000,000 activation rows at ``--scale 1`` (40 snippets of
     ``--tokens`` tokens per feature), written by the import benchmark's generator
     (bench/import/run.py) and loaded with ``manage.py import_saedashboard``;
  2. the server as ``make run`` starts it: ``uvicorn neuronsite.asgi:application --workers 2``
     (httptools, uvloop; default settings: pooled connections, rate limits on — reads are not
     limited); ``--server daphne`` (one process) to compare;
  3. for each concurrency (64, 500): clients (aiohttp, in their own process) request random
     feature pages and ``GET /api/feature/...`` (half each) for ``--duration`` seconds:
     requests/s, p50/p95 latency as the client sees it, errors (non-200 or failed), and the
     server's own time per request from its ``Server-Timing: app;dur=`` header (from the request
     reaching the application to its response headers: waiting for a thread and a pooled
     connection included, the client's share of the machine not);
  4. the limit, in the same run: the same rows (the feature, its activations by max value,
     its explanations) read by a bare psycopg AsyncConnectionPool of the server's pool size
     at the same concurrency, no HTTP, no Django.
Prints each figure and the ratio site / bare (goal >= 0.5), errors (goal 0 at 500 clients),
p95 at 64 clients (goal <= 50 ms).

The clients, the server and PostgreSQL share the machine. With closed-loop clients, latency is
concurrency / throughput (Little's law): 64 clients see p95 <= 50 ms only at >= ~1,300 req/s,
several times what the bare-query limit reaches on a 2-core machine, so on such a machine the
p95 goal cannot be met by any server; the ratio to the bare limit is the figure to compare.

Figures (2-core machine shared with other jobs; see README "Benchmarks"):
  --scale 0.1 (10,000 features, 400,000 rows), --duration 30, daphne, 2026-11-27, load 14-20:
    before (main 6da5899):  64 clients 14.1 req/s vs bare 37.2 = 0.38x;  500: 11.0 vs 43.5 = 0.25x
    one-query feature API + orjson, faster snippets, one-hop ASGI chain, page row with prev/next:
                            64 clients 24.8 req/s vs bare 55.1 = 0.45x;  500: 19.2 vs 72.9 = 0.26x
    + WEB_MAX_INFLIGHT (20 requests in Django at once, the rest queued on the event loop):
                            64 clients 38.1 req/s vs bare 96.3 = 0.40x;  500: 38.4 vs 97.9 = 0.39x
    the same code, a quieter moment (load average 7): the bare queries scale with the cores
    (PostgreSQL processes), the site does not (one Python process, ~15 ms of CPU a request):
                            64 clients 68.0 req/s vs bare 465.5 = 0.15x; 500: 64.8 vs 518.8 = 0.12x
                            p95 server time 1.11 s at 64 clients (client-seen 1.35 s), of which
                            in Django after the queue ("view") 0.45 s
  So the ratio depends on how busy the machine is, and the 0.5x goal is NOT met. 0 errors in every
  run. p95 server time is queueing: 64 requests in flight at ~68 req/s is ~0.9 s each by
  Little's law (see above). Hence two processes; the same moment, back to back, 20 s, 64 clients:
    uvicorn --workers 2 (make run now):    107.6 req/s vs bare 415.8 = 0.26x, p95 server 0.92 s
    daphne, one process (make run before):  62.0 req/s vs bare 374.2 = 0.17x, p95 server 1.12 s CPU per request
  in the web process (measured alone, in-process): GET /api/feature 8.6 -> 3.5 ms through
  Django's test client, 8.0 -> 5.8 ms through the ASGI application; feature page 22.7 -> 15 ms.

  2026-11-28: three changes, all visible to a real site, none a cache of rows:
    - the request thread: Django's ASGI handler starts a new thread per request (one
      ThreadSensitiveContext each) and the event loop waits in Thread.start() until it runs; on a
      busy machine that wait is a queue of its own. Now a finished request's one-thread executor
      serves the next request (asgiref's ThreadSensitiveContext(executor=...), same semantics:
      all of one request's sync steps on one thread; neuronsite/asgi_handler.py);
    - the pool's health check: CONN_HEALTH_CHECKS made psycopg_pool run SELECT 1 on every
      checkout, one more round trip on a page of three queries (API: one). Now the check asks the
      connection's socket (nothing to read and idle: healthy; a connection the server dropped
      has its error and end of stream waiting) and runs the real check only otherwise
      (neuronsite/db/pool.py; a test terminates every pooled backend and is still served);
    - CPU: snippets (15 x 64 tokens a page) were a SafeString per token whose Python-level
      __str__ each f-string called: plain str now, and a tighter loop (same HTML, checked on
      2,000 random snippets); the dashboard builds the explanation/list/comment querysets only
      when the row says they exist; psycopg re-parsed the 5-6 kB feature lookups on every
      execute (its parse cache stops at 4,096 bytes): bound raised (0.3 -> 0.08 ms a lookup).
    bench/load/cpu_profile.py (in-process, through the ASGI application, 300 requests, load 15,
    two alternating runs each, noisy): page 18.2 / 16.4 ms CPU before, 12.2 / 14.7 after; API
    5.9 / 5.9 before, 4.9 / 6.1 after. Database round trips: page 4 -> 3, API 2 -> 1.
  Load (same code, back to back at the same moment; load average 12-18 all along, the machine
  shared with ~6 other helpers' jobs; --duration 30; uvicorn --workers 2):
    --scale 1 (100,000 features, 4,000,000 rows; generated in 272 s, imported in 633 s at
    6,442 rows/s; 5.5 GB database, 128 MB shared_buffers):
      before (main 7684565):  64 clients  44.5 req/s vs bare 153.2 = 0.29x, p95 server 2.41 s
                             500 clients  72.0 req/s vs bare 178.9 = 0.40x, 0 errors
      after, run 1:           64 clients  81.2 req/s vs bare 120.8 = 0.67x, p95 server 1.71 s
                             500 clients  92.9 req/s vs bare 116.5 = 0.80x, 0 errors
      after, run 2:           64 clients 112.7 req/s vs bare 145.6 = 0.77x, p95 server 1.09 s
                             500 clients 100.6 req/s vs bare 142.3 = 0.71x, 0 errors
    --scale 0.1 (imported in 55 s):
      before (main 7684565):  64 clients  69.1 req/s vs bare 163.6 = 0.42x; 500: 64.5 vs 183.3 = 0.35x
      after, run 1:           64 clients  94.2 req/s vs bare 115.3 = 0.82x; 500: 80.9 vs 135.9 = 0.60x
      after, run 2:           64 clients  98.5 req/s vs bare 121.8 = 0.81x; 500: 86.1 vs 134.5 = 0.64x
    0 errors in every run (64 and 500 clients). The ratio goal (>= 0.5x) is met in these runs;
    the bare limit itself swings with the machine's load (115-180 req/s here, 415-520 at load
    average ~7 the day before, when the site reached 0.26x), so a quiet machine may still show a
    lower ratio. The p95 goal (<= 50 ms at 64 clients) is NOT met: 1.1-1.7 s, queueing by
    Little's law (64 clients / ~100 req/s), as said above.

    .venv/bin/python bench/load/run.py                 # full size (long: the import alone)
    .venv/bin/python bench/load/run.py --scale 0.02 --duration 10   # quick figure
    .venv/bin/python bench/load/run.py --prepare && .venv/bin/python bench/load/run.py --keep
                                                       # build the full-size database once, reuse it
    .venv/bin/python bench/load/cpu_profile.py --profile --only page   # where a request's CPU goes
    .venv/bin/python bench/load/cpu_profile.py --requests 400 --concurrency 32   # CPU and wall, 32 in flight
Quiet re-measure after the merge (2026-11-28 02:13 UTC, load average 1.3, main 6f21839, --scale 0.1,
--duration 30): 64 clients site 118.0 req/s vs bare 552.3 = 0.21x, p95 server time 1.12 s; 500 clients
111.7 vs 596.9 = 0.19x; 0 errors. On a quiet machine the bare queries use both cores and the ratio
falls back to where it was: the 0.67-0.82x of the loaded runs above came from a depressed bare limit.

2026-11-28, per-request CPU (helper L4). Profiled in-process through the ASGI application with
``cpu_profile.py --profile`` (now each thread's CPU time, so waits for PostgreSQL or the GIL do not
count). The page's CPU went to Django's template engine (~60%: ~190 variable lookups, ~40 loop and
condition nodes, 23 URL reversals a page), the selector (~25%), the ASGI path (~10%); the API's to
parsing and re-encoding PostgreSQL's snippet JSON (~30%), the pooled checkout and DRF. Changes:
  - the feature page's tools, plots, logit tables, neighbours, test box and activation groups render
    with Jinja2 (features/jinja_pages.py, features/jinja2/features/feature_body.html), through
    Django's own localize/escape and filters: the HTML is byte-identical (48 pages compared before
    and after: plain, embeds with toggles, with quantiles and neighbours); base layout, head,
    explanations, lists and comments (the partials htmx swaps) stay Django templates;
  - the page's cosine neighbours with their best explanation: one precompiled query (the ORM
    compiled a subquery with GROUP BY and Count on every page of a feature with neighbours:
    ~3-4 ms -> 0.3 ms of CPU; the bench's features have none, real SAE features all do);
  - GET /api/feature puts PostgreSQL's snippet JSON into the response as it is (orjson.Fragment);
  - the ASGI handler does a request's sync work in ONE thread hop (request_started, chain and view,
    close of a complete response) where Django's made three, and starts no disconnect-watching
    task for non-streaming responses (streaming ones keep Django's watch);
  - a pooled checkout no longer resolves the embedded server's data path (syscalls) each time.
  Database round trips unchanged: page 3 (plain feature), API 1.
  CPU per request, .venv/bin/python bench/load/cpu_profile.py --requests 400 --keep, baseline (main
  7f4c27c, a copy of the tree) and this branch alternately on the same database, load average ~6:
      page: 13.8 / 15.0 ms before, 12.3 / 10.4 ms after;  API: 4.1 / 4.2 ms before, 2.7 / 3.6 ms after
  and for the page's parts alone (thread CPU, one feature with neighbours, load ~10): Jinja part
  2.1 ms (of which snippets 1.2) where the same part took ~4 ms in Django templates; the Django
  template remainder 2.5 ms; selector 2.7 ms. The page is not "several times" cheaper: what is left
  is spread over the remaining Django template (URL reversals, includes), the ORM's instances for
  15 snippets, middleware and the event loop.
  One process, 32 requests in flight (``cpu_profile.py --concurrency 32 --requests 400``, same
  alternation, load ~8): wall per request page 18.2 / 18.7 -> 14.3 / 17.4 ms, API 5.9 / 6.0 ->
  4.2 / 4.0 ms; CPU page 14.6 / 14.8 -> 12.0 / 13.7 ms, API 3.8 / 4.3 -> 2.6 / 2.4 ms.
  Load, --scale 0.1 --duration 10, uvicorn --workers 2, load average 8-13 (other helpers' jobs),
  main 7f4c27c then this branch back to back (04:09-04:16 UTC):
      before: 64 clients 111.4 req/s vs bare 205.1 = 0.54x; 500: 102.2 vs 151.6 = 0.67x; 0 errors
      after:  64 clients 123.1 req/s vs bare 191.2 = 0.64x; 500: 125.7 vs 248.5 = 0.51x; 0 errors
  Single runs on this machine swing by up to 1.8x (the same branch gave 84.9 and 125.7 req/s at 64
  clients in two runs minutes apart; main gave 153.3 and 111.4), so only a quiet re-measure says
  where the ratio stands; p95 server time stays queueing (0.8-1.7 s at 64 clients).
Quiet re-measure after the merge (2026-11-28 04:49 UTC, load average 1.5 rising to 4.7, main 94230a8,
--scale 0.1, 30 s): 64 clients 124.1 req/s vs bare 513.8 = 0.24x (was 0.21x), p95 server time 1.01 s;
500 clients 134.2 vs 427.6 = 0.31x (was 0.19x); 0 errors at both. The 0.5x and 50 ms goals are NOT met.

2026-11-28, the feature page's CPU (helper L5). Changes:
  - the whole feature page renders with Jinja2 (features/jinja2/: base layout, head, explanations,
    lists, comments, bookmark, the body; features/jinja_pages.py): Django's context processors'
    values (request, user, lazy csrf_token, messages), Django's filters and escaping; the htmx
    fragments the social views answer come from the same templates (their Django copies are gone).
    The Jinja layout features/jinja2/base.html must stay the bytes of templates/base.html (which
    the other pages extend): features/tests/test_jinja_pages.py renders both and compares them;
  - URL reversal in those templates is Django's algorithm with the per-name lookups (patterns,
    compiled regular expressions; whole answers for argument-less names) kept per process, and
    static() answers are kept per path (the same strings: a test compares with reverse());
  - the page's selector is ONE query for a feature without explanations, lists or comments (was
    three): its snippets (at most 15 a group) and group counts come as JSON built by PostgreSQL in
    the feature's row (orjson; a small slotted object per snippet instead of a model instance).
  Same HTML: bench/load/compare_pages.py renders 112 responses (anonymous, signed in, owner,
  staff; explanations with scores and votes, lists, comments, neighbours, quantile groups, a
  vector, a release, a private model, embeds with toggles, 404s, and the htmx fragments of
  bookmark / comment / list / vote, errors included) on a /tmp copy of main and on this branch:
  0 different. A screenshot of one page from each tree: identical PNG files.
  CPU per request in the web process (.venv/bin/python bench/load/cpu_profile.py --requests 400
  --keep; main copy and branch alternately, load average 6.5-8):
      page: 12.05 / 9.90 ms before, 7.39 / 7.39 ms after (1.02 queries a page, was 3.02);
      API:   3.14 / 2.52 ms before, 2.34 / 3.33 ms after (unchanged code; noise)
  So the page is ~1.5x cheaper, not 2x. What is left (thread CPU of each part, one run, load ~8,
  so inflated: page 10.0 ms in that run): selector 2.3 ms (one query, the row's ORM instances,
  JSON parse), render 6.1 ms of which snippets' HTML 3.1 ms (alone: ~105 us per 64-token snippet,
  15 a page; two float formats per active token, the bench's values are all non-zero), the rest
  Jinja (finalize, floatformat, histograms, URLs) ~3 ms; CSRF token, middleware, ASGI path ~1 ms.
  The bench now prints CPU ms per request of each party (kernel accounting: the clients'
  process by getrusage of the finished child; the web processes and PostgreSQL by psutil over
  the server's and the postmaster's process trees, reaped children included; the bare limit's
  driver is this process). --scale 0.1 --duration 30, loaded machine (load average 7-13, other
  helpers' tests), main copy (06:29 UTC) and branch (06:25 UTC), CPU ms per request:
                     req/s site / bare       client  web   postgres | bare: driver postgres
      before  64:    111.3 / 166.5 = 0.67x    0.57   8.00   3.37    |       1.78   1.06
             500:     90.8 / 155.7 = 0.58x    0.75   9.15   3.39    |       2.07   1.34
      after   64:    146.5 / 221.5 = 0.66x    0.45   5.84   2.78    |       1.62   1.18
             500:    152.0 / 185.9 = 0.82x    0.54   5.83   2.74    |       1.66   0.96
  0 errors everywhere; p95 server time 0.77 s at 64 clients (queueing, as above). Task 2 of the
  brief: the aiohttp clients take ~0.5 ms of CPU a request, ~5% of the site's ~9 ms, so the
  client is not what holds the site back and it was left as it is (a lighter one would also need
  a lighter bare driver, which takes ~1.7 ms). On a quiet machine throughput is bound by CPU on
  2 cores, so the ratio tends to (bare driver + postgres) / (client + web + postgres) per request:
  2.8 / 9.1 = ~0.31x after (2.8-3.4 / 11.9-13.3 = ~0.24x before, which is what the quiet
  re-measures showed). 0.5x needs the site at ~5.6 ms of CPU a request in all: e.g. web ~3 ms
  (page ~4, API ~2) and PostgreSQL ~2 ms. Note the site's PostgreSQL share (2.7-3.4 ms) is
  twice the bare one's: building snippet JSON (json_build_object per row, to_char for
  timestamps in the API) is PostgreSQL CPU on the same 2 cores. The 0.5x goal is NOT met.
  Server side of the page's reads (EXPLAIN ANALYZE, planning + execution, of the statements the
  page selector runs, 30 random features of the --scale 0.1 database, two alternating runs each,
  load ~8): main 3 statements, median 1.69 / 1.66 ms; branch 1 statement, median 1.68 / 1.91 ms
  (means 2.2 vs 2.7-3.8: the JSON building costs PostgreSQL about what the three queries did).
    .venv/bin/python bench/load/compare_pages.py --help   # the same-HTML check (two trees)
Quiet re-measure after the merge of L5 (2026-11-28 07:15 UTC, main c9edfa2, load average 1.4 rising to
6.1 during the run, --scale 0.1, 30 s): 64 clients 166.8 req/s vs bare 535.8 = 0.31x (was 0.24x),
p95 server time 630 ms; 500 clients 156.9 vs 560.0 = 0.28x (was 0.31x); 0 errors at both. CPU
per request: site client 0.58-0.69 ms, web 7.1-7.8 ms, PostgreSQL 3.3 ms; bare driver 1.6-1.7 ms,
PostgreSQL 1.0 ms. The ratio is the two sides' CPU per request: 0.5x needs the site at ~5.5 ms
in all (web ~2 ms a request on average, PostgreSQL's snippet JSON ~1 ms cheaper). NOT met.

2026-11-28, PostgreSQL's share and the thread hop (helper L6). Where the site's PostgreSQL CPU went
(EXPLAIN (ANALYZE, SERIALIZE) of the two statements, 50 random features of the cpu_profile
database): PLANNING, every request, because Django binds parameters on the client and turns
psycopg's prepared statements off: API lookup 0.6 ms planning + 0.8 ms execution, page lookup
0.9 ms planning + 0.5 ms execution (plus parsing the 5-6 kB statements), against 0.4-0.5 ms of
execution (serialisation included) for the bare SELECT * of the same rows, which psycopg
prepares after 5 runs. Building the API's snippet JSON costs ~0.4 ms more than returning the
rows as text; one statement per request, no SET/BEGIN, no health-check query (socket check),
no session or auth query on an anonymous request. Changes:
  - neuronsite/db/prepared.py: the page's and the API's lookups (and the neighbours query) run
    through a Django cursor that binds on the server and prepares the statement once per pooled
    connection (the usual wrapper: query counting and logging unchanged); the connection's own
    prepare_threshold stays Django's for everything else; a statement the server lost behind
    psycopg's back (a DEALLOCATE through Django's cursor) is run unprepared once and prepared
    again; DATABASE_PREPARED_STATEMENTS=false turns it off (poolers);
  - the request's thread hop: a plain submission to its one-thread executor in a copy of the
    task's context (asgiref's thread-local for async_to_sync, Locals re-homed) instead of
    sync_to_async (wrapper objects, executor lookup, shield, and the copy of every context
    variable back to the event loop afterwards: ~20% of the API's CPU was on the event loop);
    ThreadSensitiveContext stays for streaming responses and the error path;
  - snippets: an active token's strength (--a, two decimals in [0, 1]) from a table of where
    each of its 101 spellings starts (bisect; exact, ties included: checked on 200,000 values and
    every boundary, and 20,000 random snippets against the old function, same HTML); ~10% of the
    snippets' time. The snippets are still ~1-2.8 ms of a page (15 x 64 active tokens in the
    bench: Python's float formatting of the titles and one f-string per token; a version with
    one %-format per snippet was no faster).
  Same bytes: bench/load/compare_pages.py now also fetches GET /api/feature/... (JSON and ETag) for
  the same features and users, private, missing and out-of-range ones: 173 responses (pages,
  fragments, API) on a /tmp copy of main and on this branch, 0 different.
  CPU per request in-process (cpu_profile.py --requests 500 --keep, main copy and branch
  alternately, 3 rounds, load average 3.8-4.0), web / PostgreSQL ms:
      page: main 9.20 / 4.02, 7.39 / 3.22, 8.00 / 3.34;  branch 7.04 / 0.96, 6.53 / 0.94, 4.97 / 0.76
      API:  main 2.20 / 2.06, 1.94 / 1.94, 3.05 / 2.88;  branch 2.17 / 1.18, 2.01 / 1.18, 1.67 / 0.92
  Load, --scale 0.1 --duration 30, branch then main copy back to back (09:17-09:24 UTC, load
  average 3.8 rising to 7.8: other helpers' tests), CPU ms per request:
                     site/bare   client  web   postgres | bare: driver postgres
      main    64:      0.42x      0.55   6.82   3.10    |        1.64   1.05
             500:      0.31x      0.61   6.47   3.01    |        1.52   0.96
      branch  64:      0.71x      0.40   4.94   1.12    |        1.56   1.01
             500:      0.42x      0.69   7.06   1.39    |        1.72   1.05
  and 500 clients again, 20 s each (load 6-8): branch web 7.66 / PostgreSQL 1.64 (0.48x), main
  7.02 / 3.21 (0.46x). 0 errors everywhere. PostgreSQL's CPU per request is now about the bare
  queries' (1.1-1.6 vs 1.0 ms). The web process is not: 5-7.7 ms a request (page ~5-7 ms, API
  ~2 ms in-process; at 500 clients the event loop's share grows). On a quiet machine the ratio
  tends to (bare driver + postgres) / (client + web + postgres) = 2.6 / 6.5 = ~0.40x at 64
  clients and ~0.30x at 500 (main: ~0.25x), so the 0.5x goal is still NOT met; it needs the web
  side at ~3 ms a request (the page's snippets and Jinja rendering, ~4.5 ms, are most of it).
  WEB_MAX_INFLIGHT 4 against the default 20 (64 clients, 15 s, back to back, load ~5-6): web 5.14
  vs 4.67 ms, 231 vs 215 req/s: within the noise, left at the pool size.
  Then: a request takes its thread (executor) when it enters its WEB_MAX_INFLIGHT slot, not on
  arrival. With 500 clients queued, ~500 executors were in use at once, more than the idle list
  keeps (256), so threads were let go and started all the time: the web side's CPU per request
  was higher at 500 clients than at 64 in the runs above (7.1-7.7 vs 4.9 ms). Same
  back-to-back comparison, --duration 20 (09:29-09:32 UTC, load average 8.9 rising to 10.6),
  CPU ms per request:
                     req/s site / bare   client  web   postgres | bare: driver postgres
      main    64:    155.1 / 265.1 = 0.59x   0.57   6.11   3.02    |       1.81   1.14
             500:    146.7 / 318.2 = 0.46x   0.66   6.22   2.92    |       1.67   1.04
      branch  64:    206.7 / 379.5 = 0.54x   0.42   4.80   1.30    |       1.28   0.83
             500:    245.2 / 354.0 = 0.69x   0.44   4.66   1.00    |       1.44   0.90
  0 errors. At the same moment the site served 1.33x (64 clients) and 1.67x (500) main's
  requests per second, for 6.1-6.5 ms of CPU a request in all against main's 9.7-9.8. The bare
  side's own figure swings with the load (265-380 req/s here), so the ratio printed by a loaded
  run is not the quiet one: by CPU per request, quiet, ~2.2 / 6.3 = ~0.35x (main ~0.29x). The
  0.5x goal is NOT met; the lead's quiet re-measure says where it stands.
    .venv/bin/python bench/load/cpu_profile.py --requests 500 --keep   # web and PostgreSQL CPU / request
Quiet re-measure after the merge of L6 (2026-11-28 10:05 UTC, main 51b5d3c, --scale 0.1, 30 s,
load average 1.5 at the start, 4.7 at the end): 64 clients 214.0 req/s vs bare 528.4 = 0.40x
(was 0.31x), 500 clients 214.3 vs 425.0 = 0.50x (was 0.28x; the bare side was lower at 500 in
this run); 0 errors; CPU per request: site client 0.55 ms, web 6.50 ms, PostgreSQL 1.49 ms (was
3.26: the prepared lookups); p95 server time at 64 clients 542.7 ms (Little's law, above). The
web process is what is left: py-spy (``--gil``, the thread holding the GIL, 12 s of one worker at
64 clients) puts 30% of it in the page's snippets (``activation_snippets``; ~1 ms a page in
process, more under load), 5% in ``_context_key``, ~3% each in URL resolving and DRF's content
negotiation, the rest spread thin; the same profile without ``--gil`` shows request threads
waiting on asgiref ``Local``'s lock (``get_urlconf``, 23 lookups a page through
``jinja_pages._url``; Django's connections) with 20 request threads a process.

2026-11-28, the web process's CPU once more (helper L7). Back-to-back runs of cpu_profile.py
swung by +-25% on this machine (other helpers' tests), more than any one change here, so each
change was measured by A/B inside ONE process: requests alternate between the old and the new
code, and the thread CPU of the part that changed is summed for each (load-independent; the
harness scripts wrap cpu_profile.py, --requests 800, two runs each, old -> new):
  - snippets: per token, two lru_cache hits (``_partial`` for the "any partial byte token?"
    check, then ``_token_piece``) were a quarter of the snippets' CPU in a real request: an
    lru hit moves an entry of a linked list, memory the request's other work has evicted (a
    microbenchmark re-rendering the same rows does not show it). Now one bounded plain dict
    ``token -> (text, class, partial)`` and one ``any(map(itemgetter(2), ...))`` a snippet.
    Same HTML (30,000 random snippets against main's function: dense, sparse, partial tokens,
    NaN/inf/None values, out-of-range centres; and compare_pages). Snippets of a page:
    1.85 / 1.63 ms -> 1.34 / 1.18 ms (-28%);
  - GET /api/feature: the common request (GET, no x-api-key, no Accept or */* or
    application/json, no ?format=, a feature found) is answered by a plain Django view with
    the same bytes and DRF's Allow/Vary headers; everything else (other methods, API keys,
    other Accept headers, ?format=, every error: the DRF view runs the lookup again) goes to the
    DRF view, so those answers are DRF's by construction; the URL's callback carries the DRF
    view's cls/initkwargs, so the OpenAPI schema is the same (features/tests/
    test_feature_api_fast.py compares both paths: bytes, headers, 304s, errors, private
    features by session and API key, 405/406). The view's CPU: 1.50 / 1.44 -> 1.27 / 1.20 ms;
  - the dashboard selector: relations the row says are empty (explanations, lists, comments of
    most features) get ``none()`` of their model instead of the relation's manager and filtered
    queryset: the selector 1.21 / 1.15 -> 1.12 / 1.10 ms.
  Tried, measured, dropped: a snippet loop with each token's span pieces precomputed and the
  titles formatted once per snippet (15% faster in a microbenchmark, 5-10% SLOWER in requests:
  more memory per token); ``url()`` resolving the URLconf and script prefix once per render (the
  render 0.2 ms slower in its A/B, not faster); gc thresholds (no difference). Left: CSRF on an
  anonymous page (``get_token``'s 64 ``secrets.choice`` 0.15 ms, the cookie 0.08 ms: Django's
  own code); Django's URL resolving (~20 patterns tried a page); the snippet loop itself
  (~1.2 ms a page for 15 x 64 active tokens: a float format, a bisect and an f-string a token).
  In all about -0.5 ms a page and -0.25 ms an API request of ~6 and ~2 ms in process: less
  than the ~1 ms a request the 0.5x goal needs. compare_pages.py (now also the API's Allow,
  sorted, since DRF's order follows the hash seed; Vary; Content-Type): 173 responses vs a
  /tmp copy of main, 0 different.
  Load, --scale 0.1 --duration 30 --keep (uvicorn --workers 2), three runs (the brief's limit):
                       req/s site / bare      CPU ms / request: client  web  postgres | bare: driver  postgres
    branch 11:31 UTC  64: 303.4 / 712.8 = 0.43x               0.27   3.32   0.88   |        1.04    0.67
    (load 1.7 -> 5.8)500: 275.5 / 606.4 = 0.45x               0.31   3.55   0.90   |        1.10    0.64
    main   11:34 UTC  64: 227.8 / 462.1 = 0.49x               0.37   4.46   1.08   |        1.60    1.00
    (load 5.4 -> 7.0)500: 230.2 / 630.8 = 0.36x               0.47   4.94   1.06   |        1.41    0.91
    branch 11:48 UTC  64: 143.7 / 414.2 = 0.35x               0.65   7.04   1.75   |        1.78    1.09
    (load 1.6 -> 5.6)500: 183.4 / 500.1 = 0.37x               0.65   6.19   1.39   |        1.77    1.08
  0 errors everywhere; p95 server time 0.39-0.78 s at 64 clients (queueing). Every party's CPU
  per request doubled between the two branch runs (the machine, not the code), so these runs
  cannot show a 5-10% change; by CPU per request the quiet ratio is still ~0.4x. The 0.5x goal
  is NOT met; the lead's quiet re-measure says where it stands.
    A/B harnesses of this kind: thread CPU of one function, alternating implementations per
    request, on top of ``cpu_profile.py``'s driver (not kept in the tree).
Quiet re-measure after the merge of L7 (2026-11-28 12:32 UTC, main 96687ef, load 0.2 rising to 5.8,
every other PostgreSQL stopped): 64 clients 226.7 / 594.8 req/s = 0.38x, 500 clients 238.1 / 582.9 =
0.41x, 0 errors; CPU ms a request: client 0.53, web 6.04 (was 6.5), postgres 1.41; bare driver 1.46,
postgres 1.05; p95 server time at 64 clients 508 ms. The 0.5x goal is NOT met.

2026-11-28, the feature page's snippets drawn in the browser (helper L8a). The page carries them as
data: ONE <script type="application/json" id="snippet-data"> (orjson; the page's distinct tokens
once, per row token ids, values, centre, leading value; <, >, &, U+2028/9 escaped; outside <main>)
that features/static/features/snippets.js draws into the DOM the server wrote before (classes,
titles, --a, centred window, joined UTF-8 pieces, Python's float format: checked in Chromium on
random snippets and on the real page; "show more" fragments stay server-rendered). compare_pages.py
reads such a page as the browser draws it: 173 responses vs main, 0 different. Page 74.0 -> 28.7 KiB.
Snippets' part, A/B in one process (thread CPU, 100 pages of the cpu_profile database, alternating,
load 9-12): 1.81 / 1.64 / 1.99 / 1.15 -> 0.71 / 0.66 / 0.83 / 0.46 ms a page (~2.4x less).
cpu_profile.py --requests 600 --only page, main copy / branch alternately, load 5-12 (noisy): page
4.50 / 5.51 / 6.46 / 7.64 -> 4.27 / 4.71 / 4.66 / 4.64 ms. Load, --scale 0.1 --duration 30 --keep,
one run (13:51 UTC, load 10.8 -> 7.1): 64 clients 239.2 / 510.6 req/s = 0.47x, web 4.37 ms CPU a
request (6.04 in the last quiet run); 500: 188.9 / 545.0 = 0.35x, web 5.40; 0 errors. By CPU a request
(bare 1.50 + 0.97 vs site 0.41 + 4.37 + 1.32) the quiet ratio is ~0.40x: the 0.5x goal is NOT met.

2026-11-28, the web CPU outside the view (helper L8b). Split at one moment (load 7-15): in-process
(cpu_profile.py) 4.57 ms a request; server, 1 client ~5.1 (+0.5: event-loop threads 0.33-0.6 ms, ~3/4
in uvloop/httptools C and syscalls, ASGI wrappers + hop ~0.1); 64 clients ~5.75 (+0.6: ~30 voluntary
/ 7 involuntary context switches a request vs 6 / 4: threads queued on asgiref Locals' locks and the
GIL). The brief's 2.5 ms gap was mostly two moments of this machine. Kept: a 20 ms GIL switch
interval in web processes (WEB_GIL_SWITCH_INTERVAL_MS; Python's 5 ms forces hand-offs among ~20
request threads): web CPU a request -6/-10/-1/-6% (medians of 3-5 alternating pairs, server_cpu.py);
run.py back to back (14:07-14:12 UTC, load 4-8), 20 ms: 64 clients 179.9/449.1 = 0.40x, web 5.55 ms;
500: 187.1/401.2 = 0.47x, web 5.39; 5 ms: 0.39x, web 6.31; 500: 0.37x, web 5.88; 0 errors. Dropped
(< 5% CPU): WEB_MAX_INFLIGHT 1/2/4 (switches 36 -> 6-9, same CPU, req/s -25% at 1-2); --http h11
(loop +0.1-0.2 ms); --loop asyncio; --workers 1 (-12% CPU, same req/s loaded, one core quiet) or 3;
no thread hop (in-flight 1's serialisation); response path (bound ~0.1 ms). The 0.5x goal is NOT met.
    flock /work/wt/bench.lock .venv/bin/python bench/load/server_cpu.py --variant base --variant 'si5|WEB_GIL_SWITCH_INTERVAL_MS=0'

2026-11-28, the feature page's last percent (helper L9, features/jinja_pages.py). A page's ``url()``s
read the URLconf and script prefix (asgiref Locals, ~10 us each) once a page, not 23 times; the CSRF
token (new secret + mask for an anonymous GET) from one os.urandom call, Django's format (~100 us ->
~20 us); Jinja's finalize returns plain str when nothing needs escaping (one Markup an output, not two).
compare_pages.py vs main: 173 responses, 0 different. A/B alternating (load 2-6, noisy): page 5.44 /
5.73 -> 5.34 / 5.51 ms CPU (url); template render 2.34 / 2.62 -> 2.02 / 2.45 ms (finalize). run.py
--scale 0.1 --duration 30 --keep (15:06 UTC, load 5.3 -> 7.9: bare depressed): 64 clients 213.5 / 289.3
= 0.74x, web 4.92 ms CPU a request (5.47 quiet on f42dc2e); 500: 0.63x, web 4.94; 0 errors.
Quiet re-measure after the merge of L8a, L8b and L9 (2026-11-28 15:25 UTC, main 64dc533, load 1.0
at the start, 4.4 at the end, every other PostgreSQL stopped): 64 clients 283.7 / 510.2 req/s =
0.56x, 500 clients 296.2 / 527.6 = 0.56x, 0 errors; CPU ms a request: client 0.42, web 4.66 (event
loops 0.39), postgres 1.39; bare driver 1.76, postgres 1.04; 22 voluntary context switches a
request (was 35). The bare side has read 509-595 req/s in quiet runs today: against 594.8 the site's
283.7 would be 0.48x. p95 server time at 64 clients 333 ms (goal 50 ms: not met, Little's law).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DB_NAME = "bench_load"
FEATURES_FULL = 100_000
ACTS_PER_FEATURE = 40  # 100,000 x 40 = 4,000,000 activation rows
MODEL, SOURCE = "bench-model", "0-res-bench"

sys.path.insert(0, str(ROOT))


def _import_generator():
    """bench/import/run.py's ``generate`` (SAEDashboard batch files), sized by its globals."""
    spec = importlib.util.spec_from_file_location("bench_import_run", ROOT / "bench" / "import" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def drop_database() -> None:
    from django.conf import settings

    from neuronsite import embedded_db

    info = embedded_db.ensure_running(Path(settings.DATABASES["default"]["EMBEDDED_DATA_DIR"]))
    embedded_db.drop_database(info, DB_NAME)


def load_data(n_features: int, tokens: int) -> int:
    gen = _import_generator()
    os.environ["EMBEDDED_DB_NAME"] = DB_NAME  # the generator module set its own name on import
    gen.N_SNIPPETS = n_features * ACTS_PER_FEATURE
    gen.ACTS_PER_FEATURE = ACTS_PER_FEATURE
    gen.N_TOKENS = tokens
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        t0 = time.perf_counter()
        n = gen.generate(Path(tmp) / "files")
        print(f"generated {n:,} snippets x {tokens} tokens in {time.perf_counter() - t0:.1f} s", flush=True)
        t0 = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "manage.py"),
                "import_saedashboard",
                str(Path(tmp) / "files"),
                "-v",
                "0",
            ],
            cwd=ROOT,
            env={**os.environ, "EMBEDDED_DB_NAME": DB_NAME},
            check=True,
        )
        print(f"imported in {time.perf_counter() - t0:.1f} s", flush=True)
    return n


def server_command(server: str, port: int, workers: int) -> list[str]:
    """The web server line of ``make run`` (Makefile ``run``: uvicorn, ``WEB_WORKERS`` processes),
    on ``port``; ``daphne`` (one process) for comparison."""
    bindir = str(Path(sys.executable).parent)
    if server == "daphne":
        return [shutil.which("daphne", path=bindir) or "daphne", "-b", "127.0.0.1", "-p", str(port),
                "neuronsite.asgi:application"]  # fmt: skip
    return [
        shutil.which("uvicorn", path=bindir) or "uvicorn", "neuronsite.asgi:application",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), "--lifespan", "off",
        "--loop", "uvloop", "--http", "httptools", "--ws", "websockets", "--no-access-log",
    ]  # fmt: skip


def start_server(port: int, log_path: Path, server: str = "uvicorn", workers: int = 2) -> subprocess.Popen:
    env = {**os.environ, "EMBEDDED_DB_NAME": DB_NAME, "DEBUG": "false", "LOG_LEVEL": "ERROR"}
    log = open(log_path, "w")  # noqa: SIM115
    proc = subprocess.Popen(
        server_command(server, port, workers),
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(log_path.read_text()[-2000:]) from None
            time.sleep(0.2)


def _quantiles(values: list[float]) -> list[float]:
    ok = sorted(values)
    return statistics.quantiles(ok, n=100) if len(ok) >= 2 else [0.0] * 99


def _summary(
    latencies: list[float], errors: int, elapsed: float, server_ms: list[float] | None = None
) -> dict:
    q = _quantiles(latencies)
    out = {
        "requests": len(latencies) + errors,
        "rps": (len(latencies) + errors) / elapsed,
        "p50_ms": q[49] * 1000,
        "p95_ms": q[94] * 1000,
        "errors": errors,
    }
    if server_ms:  # the Server-Timing header: time inside the server, without the client's share
        sq = _quantiles(server_ms)
        out["server_p50_ms"], out["server_p95_ms"] = sq[49], sq[94]
    return out


# --- the HTTP clients (run in a child process: ``run.py --client URL N DURATION N_FEATURES``) ----


async def _http_clients(base: str, concurrency: int, duration: float, n_features: int) -> dict:
    import aiohttp

    latencies: list[float] = []
    server_ms: list[float] = []
    view_ms: list[float] = []
    errors = 0
    error_kinds: dict[str, int] = {}
    stop_at = time.perf_counter() + duration
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=120)

    async def client(session, rng):
        nonlocal errors
        while time.perf_counter() < stop_at:
            index = rng.randrange(n_features)
            path = (
                f"/api/feature/{MODEL}/{SOURCE}/{index}"
                if rng.random() < 0.5
                else f"/{MODEL}/{SOURCE}/{index}"
            )
            t0 = time.perf_counter()
            try:
                async with session.get(base + path) as r:
                    await r.read()
                    if r.status == 200:
                        latencies.append(time.perf_counter() - t0)
                        timing = dict(
                            part.strip().split(";dur=", 1)
                            for part in r.headers.get("Server-Timing", "").split(",")
                            if ";dur=" in part
                        )
                        if "app" in timing:
                            server_ms.append(float(timing["app"]))
                        if "view" in timing:
                            view_ms.append(float(timing["view"]))
                        continue
                    kind = str(r.status)
            except Exception as exc:  # noqa: BLE001 - counted and reported
                kind = type(exc).__name__
            errors += 1
            error_kinds[kind] = error_kinds.get(kind, 0) + 1

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(session, random.Random(i)) for i in range(concurrency)))
        elapsed = time.perf_counter() - t0
    out = {**_summary(latencies, errors, elapsed, server_ms), "error_kinds": error_kinds}
    if view_ms:  # inside Django, after waiting for a slot (WEB_MAX_INFLIGHT)
        vq = _quantiles(view_ms)
        out["view_p50_ms"], out["view_p95_ms"] = vq[49], vq[94]
    return out


def run_clients(base: str, concurrency: int, duration: float, n_features: int) -> dict:
    """The clients' process; its CPU time (user + system, from the kernel's account of the
    finished child) comes back as ``client_cpu_s``."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [sys.executable, __file__, "--client", base, str(concurrency), str(duration), str(n_features)],
        capture_output=True,
        text=True,
        check=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["client_cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result


# --- CPU accounting: who used the 2 cores during a run ------------------------------------------


def tree_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) of a process and its live descendants, plus the children it
    has reaped (PostgreSQL's postmaster reaps its backends; uvicorn's master its workers)."""
    if pid is None:
        return 0.0
    try:
        import psutil
    except ImportError:  # a figure less, nothing else
        return 0.0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for proc in procs:
        try:
            t = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system + (t.children_user + t.children_system if proc is root else 0.0)
    return total


def postmaster_pid() -> int | None:
    """The embedded PostgreSQL's postmaster (first line of ``pgdata/postmaster.pid``); None with
    an outside server (``DATABASE_URL``)."""
    from django.conf import settings

    data_dir = settings.DATABASES["default"].get("EMBEDDED_DATA_DIR")
    if not data_dir:
        return None
    try:
        return int((Path(data_dir) / "pgdata" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def web_worker_pids(pid: int) -> list[int]:
    """The server's processes that serve requests: uvicorn's workers (its multiprocessing
    resource tracker left out), or the server itself when it has none (``--workers 1``, daphne)."""
    try:
        import psutil

        children = psutil.Process(pid).children(recursive=True)
    except Exception:  # noqa: BLE001 - psutil missing or the server gone: a figure less
        return [pid]
    workers = []
    for child in children:
        try:
            if "resource_tracker" not in " ".join(child.cmdline()):
                workers.append(child.pid)
        except psutil.NoSuchProcess:
            continue
    return workers or [pid]


def loop_and_switches(pids: list[int]) -> tuple[float, int, int]:
    """For these processes: CPU seconds of their main threads (the server's event loop: HTTP
    parsing and sending, the application's async part, the hop to a request thread), and the
    voluntary and involuntary context switches of all their threads (Linux /proc; zeros elsewhere)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    loop_cpu, vol, invol = 0.0, 0, 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            loop_cpu += (int(stat[11]) + int(stat[12])) / tick  # utime, stime
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                status = Path(f"/proc/{pid}/task/{tid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("voluntary_ctxt_switches"):
                    vol += int(line.split()[1])
                elif line.startswith("nonvoluntary_ctxt_switches"):
                    invol += int(line.split()[1])
    return loop_cpu, vol, invol


def self_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# --- the limit: the same rows through a bare psycopg pool -----------------------------------------


async def _bare(concurrency: int, duration: float, n_features: int, pool_size: int) -> dict:
    from django.db import connection
    from psycopg_pool import AsyncConnectionPool

    params = dict(connection.get_connection_params())
    params.pop("pool", None)
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    kwargs = {k: v for k, v in params.items() if k in {"host", "port", "user", "dbname", "password"}}
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + duration
    feature_sql = (
        "SELECT f.* FROM features_feature f JOIN models_app_source s ON s.id = f.source_id "
        "JOIN models_app_model m ON m.id = s.model_id WHERE m.name = %s AND s.name = %s AND f.index = %s"
    )
    acts_sql = "SELECT * FROM features_activation WHERE feature_id = %s ORDER BY max_value DESC, id"
    expl_sql = "SELECT * FROM features_explanation WHERE feature_id = %s"
    async with AsyncConnectionPool(
        kwargs=kwargs, min_size=pool_size, max_size=pool_size, timeout=120
    ) as pool:

        async def client(rng):
            nonlocal errors
            while time.perf_counter() < stop_at:
                index = rng.randrange(n_features)
                t0 = time.perf_counter()
                try:
                    async with pool.connection() as conn:
                        feature = await (await conn.execute(feature_sql, [MODEL, SOURCE, index])).fetchone()
                        await (await conn.execute(acts_sql, [feature[0]])).fetchall()
                        await (await conn.execute(expl_sql, [feature[0]])).fetchall()
                    latencies.append(time.perf_counter() - t0)
                except Exception:  # noqa: BLE001 - counted and reported
                    errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(client(random.Random(i)) for i in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return _summary(latencies, errors, elapsed)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=float(os.environ.get("BENCH_LOAD_SCALE", 1.0)),
        help="1 = 100,000 features / 4,000,000 rows (env BENCH_LOAD_SCALE)",
    )
    parser.add_argument("--tokens", type=int, default=64, help="tokens per snippet")
    parser.add_argument(
        "--duration",
        type=float,
        default=float(os.environ.get("BENCH_LOAD_DURATION", 30.0)),
        help="seconds per load run (env BENCH_LOAD_DURATION)",
    )
    parser.add_argument("--clients", default="64,500", help="concurrency levels")
    parser.add_argument("--keep", action="store_true", help="keep the database (and reuse it next time)")
    parser.add_argument(
        "--prepare", action="store_true",
        help="only build (or keep) the database, then stop (implies --keep); a later --keep run reuses it",
    )  # fmt: skip
    parser.add_argument(
        "--server", choices=["uvicorn", "daphne"], default="uvicorn",
        help="uvicorn with --workers processes (as make run starts it) or daphne (one process)",
    )  # fmt: skip
    parser.add_argument(
        "--workers", type=int, default=int(os.environ.get("WEB_WORKERS", 2)),
        help="uvicorn worker processes (make run's WEB_WORKERS, default 2)",
    )  # fmt: skip
    args = parser.parse_args()
    args.keep = args.keep or args.prepare

    os.environ["EMBEDDED_DB_NAME"] = DB_NAME
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "neuronsite.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    n_features = max(1, int(FEATURES_FULL * args.scale))
    have = 0
    if args.keep:
        try:
            with connection.cursor() as cur:
                cur.execute("SELECT count(*) FROM features_feature")
                have = cur.fetchone()[0]
        except Exception:  # noqa: BLE001 - no database yet
            have = 0
        connection.close()
    if have != n_features:
        connection.close()
        connection.close_pool()  # its connections (and the "database exists" check) go with it
        drop_database()
        from neuronsite import embedded_db

        embedded_db._databases_checked.clear()
        call_command("migrate", verbosity=0)
        connection.close()
        load_data(n_features, args.tokens)
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM features_feature")
        (features,) = cur.fetchone()
        cur.execute("SELECT count(*) FROM features_activation")
        (rows,) = cur.fetchone()
        cur.execute("ANALYZE")
    print(f"database: {features:,} features, {rows:,} activation rows", flush=True)
    if args.prepare:
        return
    pool_size = settings.DATABASES["default"].get("OPTIONS", {}).get("pool", {}).get("max_size", 20)

    port = _free_port()
    log_path = Path(tempfile.gettempdir()) / f"bench-load-{args.server}-{port}.log"
    server = start_server(port, log_path, args.server, args.workers)
    print(f"server: {' '.join(server_command(args.server, port, args.workers)[1:])}", flush=True)
    base = f"http://127.0.0.1:{port}"
    results = []
    try:
        run_clients(base, 8, min(3.0, args.duration), features)  # warm-up (imports, templates)
        pg = postmaster_pid()
        for concurrency in [int(c) for c in args.clients.split(",")]:
            workers = web_worker_pids(server.pid)
            web0, pg0, threads0 = tree_cpu(server.pid), tree_cpu(pg), loop_and_switches(workers)
            site = run_clients(base, concurrency, args.duration, features)
            web1, pg1, threads1 = tree_cpu(server.pid), tree_cpu(pg), loop_and_switches(workers)
            me0 = self_cpu()
            bare = asyncio.run(_bare(concurrency, args.duration, features, pool_size))
            me1, pg2 = self_cpu(), tree_cpu(pg)
            # CPU ms per request: the clients' process, the web processes, PostgreSQL; for the
            # bare limit, its driver (this process: asyncio + psycopg pool) and PostgreSQL
            site["cpu_ms"] = {
                name: value * 1000 / max(site["requests"], 1)
                for name, value in (
                    ("client", site["client_cpu_s"]),
                    ("web", web1 - web0),
                    ("postgres", pg1 - pg0),
                )
            }
            # of the web side: its event-loop threads' CPU, and context switches per request
            site["loop_ms"] = (threads1[0] - threads0[0]) * 1000 / max(site["requests"], 1)
            site["switches"] = [
                (b - a) / max(site["requests"], 1) for a, b in zip(threads0[1:], threads1[1:], strict=True)
            ]
            bare["cpu_ms"] = {
                name: value * 1000 / max(bare["requests"], 1)
                for name, value in (("driver", me1 - me0), ("postgres", pg2 - pg1))
            }
            results.append((concurrency, site, bare))
            print(
                f"{concurrency:>4} clients  site: {site['rps']:8.1f} req/s  p50 {site['p50_ms']:7.1f} ms"
                f"  p95 {site['p95_ms']:7.1f} ms  errors {site['errors']} {site['error_kinds'] or ''}",
                flush=True,
            )
            if "server_p95_ms" in site:
                print(
                    f"{'':>4}          site, server time (Server-Timing app): p50 {site['server_p50_ms']:7.1f} ms"
                    f"  p95 {site['server_p95_ms']:7.1f} ms; in Django after its queue (view):"
                    f" p50 {site.get('view_p50_ms', float('nan')):.1f} ms  p95 {site.get('view_p95_ms', float('nan')):.1f} ms",
                    flush=True,
                )
            print(
                f"{'':>4}          bare: {bare['rps']:8.1f} req/s  p50 {bare['p50_ms']:7.1f} ms"
                f"  p95 {bare['p95_ms']:7.1f} ms  errors {bare['errors']}   site/bare = {site['rps'] / bare['rps']:.2f}",
                flush=True,
            )
            print(
                f"{'':>4}          CPU ms / request: site: client {site['cpu_ms']['client']:.2f},"
                f" web {site['cpu_ms']['web']:.2f} (event loops {site['loop_ms']:.2f}), postgres"
                f" {site['cpu_ms']['postgres']:.2f};"
                f" bare: driver {bare['cpu_ms']['driver']:.2f}, postgres {bare['cpu_ms']['postgres']:.2f}",
                flush=True,
            )
            print(
                f"{'':>4}          web context switches / request: voluntary {site['switches'][0]:.1f},"
                f" involuntary {site['switches'][1]:.1f}",
                flush=True,
            )
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        connection.close()
        if not args.keep:
            drop_database()
    print(f"server log: {log_path}")
    # the machine may be shared: ratios within this run are the figures to compare
    print("load average (1/5/15 min): " + " / ".join(f"{x:.1f}" for x in os.getloadavg()))
    for concurrency, site, bare in results:
        print(
            f"summary {concurrency} clients: site/bare throughput = {site['rps'] / bare['rps']:.2f} (goal >= 0.5),"
            f" errors {site['errors']} (goal 0), p95 client-seen {site['p95_ms']:.1f} ms,"
            f" server {site.get('server_p95_ms', float('nan')):.1f} ms (view {site.get('view_p95_ms', float('nan')):.1f} ms)"
            + (" (goal <= 50 ms)" if concurrency == 64 else "")
        )


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--client":
        _, _, url, n, duration, n_features = sys.argv
        print(json.dumps(asyncio.run(_http_clients(url, int(n), float(duration), int(n_features)))))
    else:
        main()
