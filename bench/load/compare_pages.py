"""Feature pages (and ``GET /api/feature/...``) answered by two trees of the code, compared byte
for byte.

A check for work on the feature page's speed (bench/load): the HTML must stay the same. On a
database of its own (``bench_pages_compare``; created and seeded on first use, kept), this
renders a set of feature pages (anonymous, signed in, the owner, staff; with explanations,
scores, votes, lists, comments, neighbours, quantile groups, a vector, a release; embeds with
toggles; and the htmx fragments the social views answer; the feature API's JSON and ETag for the
same features and users, private and missing ones included) through Django's test client and
writes them to a JSON file; ``--compare`` diffs two such files. CSRF tokens (random per
request) are replaced by a placeholder before comparing.

Snippets drawn in the browser (helper L8a): a feature page now carries its activation snippets
as data (``<script type="application/json" id="snippet-data">``, features/snippet_data.py) that
features/static/features/snippets.js draws into each ``<div class="snips" data-snips="N">``.
``--compare`` therefore reads a page that has such a block the way the browser does: the data
drawn by ``snippet_data.render_html`` (the Python mirror of snippets.js, which
features/tests/test_snippet_data.py checks against the server's renderer in Chromium on random
snippets) into its groups, then the block, the script tag and the ``<noscript>`` line removed.
Everything else on the page (and every page without the block: main's, fragments, API) is
compared byte for byte as before; so a difference in the data shows as a difference in the
snippets' HTML, a difference elsewhere as itself.

    # the baseline: a copy of main's tree at /tmp/main (sharing this tree's var/: same database)
    git archive main | tar -x -C /tmp/main && ln -s $PWD/.venv /tmp/main/.venv
    NEURONSITE_DATA_DIR=$PWD/var .venv/bin/python bench/load/compare_pages.py --root /tmp/main --dump /tmp/a.json
    .venv/bin/python bench/load/compare_pages.py --dump /tmp/b.json
    .venv/bin/python bench/load/compare_pages.py --compare /tmp/a.json /tmp/b.json
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
from pathlib import Path

DB_NAME = "bench_pages_compare"
TOKEN = re.compile(r'(csrfmiddlewaretoken" value="|name="csrf-token" content="|"X-CSRFToken": ")[A-Za-z0-9]+')


def _seed() -> None:
    from accounts.models import User
    from features.models import (
        Activation,
        Bookmark,
        Comment,
        ExplainerModel,
        Explanation,
        ExplanationScore,
        ExplanationScoreType,
        ExplanationType,
        Feature,
        List,
        ListItem,
        Vote,
    )
    from models_app.models import Model, Source, SourceRelease, SourceSet
    from neuronsite.fields import Visibility

    owner = User.objects.create(username="owner<&>")
    other = User.objects.create(username="other")
    User.objects.create(username="staff", is_staff=True)
    release = SourceRelease.objects.create(name="rel-1", description="a release")
    public = Model.objects.create(name="m1", layers=2, d_model=16, display_name_short="M<1>")
    private = Model.objects.create(
        name="m2", layers=2, d_model=16, owner=owner, visibility=Visibility.PRIVATE
    )
    ss = SourceSet.objects.create(model=public, name="res-a", type="sae", release=release)
    ss2 = SourceSet.objects.create(model=private, name="res-b", type="sae", owner=owner, allow_steering=False)
    src = Source.objects.create(
        model=public, source_set=ss, name="0-res-a", layer=0, hook_name="blocks.0.hook_resid_pre", d_sae=64,
        sae_release="rel", sae_id="id/0", config={"d_in": 16, "d_sae": 64, "name": "x<y>"},
    )  # fmt: skip
    src2 = Source.objects.create(
        model=private, source_set=ss2, name="1-res-b", layer=1, d_sae=64, owner=owner,
        visibility=Visibility.PRIVATE, inference_enabled=False, local_path="/tmp/sae",
    )  # fmt: skip
    etype = ExplanationType.objects.create(name="oai_token-act-pair", display_name="OAI")
    etype2 = ExplanationType.objects.create(name="human")
    emodel = ExplainerModel.objects.create(name="gpt-x", display_name="GPT X")
    stype = ExplanationScoreType.objects.create(name="recall_alt", description="recall")
    stype2 = ExplanationScoreType.objects.create(name="eleuther_fuzz")
    for i in range(12):
        feature = Feature.objects.create(
            source=src, index=i * 3, max_act_approx=2.5 + i if i % 4 else None, frac_nonzero=0.001 * i,
            pos_str=["Ġthe", "<a>", "Ċ"], pos_values=[0.5, 0.4123456, 0.1], neg_str=["x&y"], neg_values=[-0.3],
            topk_cos_sim_indices=[i * 3, 3, 6, 9, 999] if i % 2 else [],
            topk_cos_sim_values=[1.0, 0.9, 0.8, 0.71234, 0.5] if i % 2 else [],
            activation_quantiles={"0.5": 0.25, "0.9": 1.5} if i % 3 == 0 else {},
            freq_hist_data_bar_heights=[1, 5, 2] if i % 2 else [],
            freq_hist_data_bar_values=[0.1, 0.2, 0.3] if i % 2 else [],
            logits_hist_data_bar_heights=[3, 1] if i % 3 else [],
            logits_hist_data_bar_values=[-1.0, 1.0] if i % 3 else [],
            vector=[0.1] * 16 if i == 5 else None, has_vector=i == 5, vector_label="v<5>" if i == 5 else "",
        )  # fmt: skip
        for j in range(3 + i % 5):
            bins = [(None, None, -1), (0.0, 1.0, 1), (1.0, 2.0, 0)][j % 3] if i % 3 == 0 else (None, None, -1)
            Activation.objects.create(
                feature=feature, tokens=["a", "Ġb<", "c&", "Ċd", " e"], values=[0.0, j * 0.5, 0.25, 1.5 * j, -0.1],
                max_value=1.5 * j, max_value_token_index=3, min_value=-0.1, bin_min=bins[0], bin_max=bins[1],
                bin_contains=bins[2], qualifying_token_index=1 if j % 2 else None,
                dfa_values=[0.1, 0.2, 0.0, 0.3, 0.0] if j == 1 else [],
            )  # fmt: skip
        if i % 2:
            for k in range(1 + i % 3):
                exp = Explanation.objects.create(
                    feature=feature, description=f"expl {k} <b>of</b> {i} " + "long " * (k * 20),
                    type=etype if k % 2 == 0 else etype2, explainer_model=emodel if k == 0 else None,
                    author=owner if k != 1 else other,
                )  # fmt: skip
                if k == 0:
                    ExplanationScore.objects.create(
                        explanation=exp, score_type=stype, scorer_model=emodel, value=0.61234,
                        details={"top": [{"tokens": ["a", "<b>"], "match": True, "correct": True}],
                                 "zero": [{"tokens": ["z"], "match": False, "correct": True}]},
                    )  # fmt: skip
                    ExplanationScore.objects.create(
                        explanation=exp, score_type=stype2, value=0.2,
                        details=[{"text": "t<x>", "ground_truth": True, "prediction": 1, "correct": False}],
                    )  # fmt: skip
                    Vote.objects.create(explanation=exp, user=owner)
                    Vote.objects.create(explanation=exp, user=other)
        if i % 3 == 1:
            lst = List.objects.create(owner=owner, name=f"list <{i}>", visibility=Visibility.PUBLIC)
            ListItem.objects.create(list=lst, feature=feature, note="n")
            lst2 = List.objects.create(owner=other, name=f"other list {i}", visibility=Visibility.UNLISTED)
            ListItem.objects.create(list=lst2, feature=feature)
        if i % 4 == 1:
            Comment.objects.create(feature=feature, user=owner, text="line 1\nline <2> & 3")
            Comment.objects.create(feature=feature, user=other, text="second")
        if i in (1, 4):
            Bookmark.objects.create(user=owner, feature=feature)
    List.objects.create(owner=owner, name="empty <list>")
    pf = Feature.objects.create(source=src2, index=7, max_act_approx=1.0, frac_nonzero=0.5)
    Activation.objects.create(feature=pf, tokens=["p"], values=[1.0], max_value=1.0)
    Explanation.objects.create(feature=pf, description="private expl", author=owner)


def _pages() -> list[tuple[str, str | None, str]]:
    """(key, username or None, path)."""
    out = []
    embeds = ["?embed=true", "?embed=true&embedplots=false&embedtest=0", "?embed=1&embedexplanation=false"
              "&embedactivations=no&embedlink=false&embedsteer=true"]  # fmt: skip
    for i in range(12):
        path = f"/m1/0-res-a/{i * 3}"
        for user in (None, "owner<&>", "other", "staff"):
            out.append((f"{user}:{path}", user, path))
        for e in embeds:
            out.append((f"None:{path}{e}", None, path + e))
            if i % 2:
                out.append((f"owner:{path}{e}", "owner<&>", path + e))
    out.append(("owner:private", "owner<&>", "/m2/1-res-b/7"))
    out.append(("staff:private", "staff", "/m2/1-res-b/7"))
    out.append(("None:private", None, "/m2/1-res-b/7"))
    out.append(("None:missing", None, "/m1/0-res-a/1"))
    # GET /api/feature/... (the load benchmark's other half): the same features and users
    for i in range(12):
        path = f"/api/feature/m1/0-res-a/{i * 3}"
        for user in (None, "owner<&>", "other", "staff"):
            out.append((f"{user}:{path}", user, path))
    for user in (None, "owner<&>", "staff"):
        out.append((f"{user}:api-private", user, "/api/feature/m2/1-res-b/7"))
    for path in ("/api/feature/m1/0-res-a/1", "/api/feature/m1/nope/3", "/api/feature/nope/0-res-a/3",
                 "/api/feature/m1/0-res-a/x", "/api/feature/m1/0-res-a/%C2%B2",
                 "/api/feature/m1/0-res-a/3000000000", "/api/feature/m1/0-res-a/9223372036854775808",
                 "/m1/0-res-a/3000000000", "/m1/0-res-a/9223372036854775808", "/m1/0-res-a/-1"):  # fmt: skip
        out.append((f"None:{path}", None, path))
    return out


def _posts() -> list[tuple[str, str, str, dict]]:
    """htmx fragments: (key, username, path, data); run after the pages (they write)."""
    base = "/m1/0-res-a/3"
    return [
        ("bookmark", "owner<&>", f"{base}/bookmark", {}),
        ("comment", "other", f"{base}/comment", {"text": "hello\n<you>"}),
        ("comment-empty", "other", f"{base}/comment", {"text": ""}),
        ("list-add-new", "other", f"{base}/list", {"new_name": "fresh <one>"}),
        ("list-add-none", "other", f"{base}/list", {}),
        ("vote", "other", f"{base}/explanation/__EXPL__/vote", {}),
    ]


def _text(response) -> str:
    head = f"{response.status_code}\n"
    if response.get("ETag"):  # the feature API's (a hash of the body)
        head += f"ETag: {response['ETag']}\n"
    for name in ("Allow", "Vary", "Content-Type"):  # what DRF's view adds (the API's fast path too)
        value = response.get(name)
        if value and name == "Allow":  # DRF's order is a set's: it changes with the hash seed
            value = ", ".join(sorted(v.strip() for v in value.split(",")))
        if value:
            head += f"{name}: {value}\n"
    return head + TOKEN.sub(r"\1TOKEN", response.content.decode())


def dump(out: Path) -> None:
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from accounts.models import User

    call_command("migrate", verbosity=0)
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM models_app_model WHERE name = 'm1'")
        seeded = cur.fetchone()[0]
    if not seeded:
        from django.db import transaction

        with transaction.atomic():
            _seed()
    result = {}
    clients = {}

    def client(username):
        if username not in clients:
            c = clients[username] = Client(HTTP_HOST="testserver")
            if username:
                c.force_login(User.objects.get(username=username))
        return clients[username]

    for key, username, path in _pages():
        r = client(username).get(path)
        result[key] = _text(r)
    # the fragments the social views answer to htmx write to the database: inside a transaction
    # rolled back, so that both trees see the same rows
    from django.db import transaction

    from features.models import Explanation

    expl = (
        Explanation.objects.filter(feature__index=3, feature__source__name="0-res-a").order_by("id").first()
    )
    for key, username, path, data in _posts():
        with transaction.atomic():
            r = client(username).post(path.replace("__EXPL__", str(expl.pk)), data, HTTP_HX_REQUEST="true")
            # a new comment shows its time (now): minutes apart between the two trees' runs
            result[f"post:{key}"] = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d", "DATE", _text(r))
            transaction.set_rollback(True)
        with connection.cursor() as cur:  # ids taken by the rolled-back rows are free again
            for table in ("features_list", "features_listitem", "features_comment", "features_vote",
                          "features_bookmark"):  # fmt: skip
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(max(id), 0) + 1, false)"
                    f" FROM {table}"
                )
    out.write_text(json.dumps(result, indent=1, sort_keys=True))
    print(f"{len(result)} responses -> {out}")


_DATA = re.compile(r'<script type="application/json" id="snippet-data">.*?</script>', re.S)
_SNIPPETS_JS = re.compile(r'<script src="[^"]*/features/snippets\.js" defer></script>')
_NOSCRIPT = re.compile(
    r"<noscript><p class=\"muted small\">The snippets are drawn by JavaScript;.*?</noscript>"
)
_GROUP = re.compile(r'<div class="snips" data-snips="(\d+)">')


def drawn(text: str) -> str:
    """A response as the browser shows it: the snippet data drawn into its groups (see above)."""
    if 'id="snippet-data"' not in text:
        return text
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from features.snippet_data import page_data, render_html

    groups = render_html(page_data(text))
    text = _GROUP.sub(lambda m: '<div class="snips">' + groups[int(m.group(1))], text)
    return _NOSCRIPT.sub("", _SNIPPETS_JS.sub("", _DATA.sub("", text)))


def compare(a: Path, b: Path) -> int:
    left, right = json.loads(a.read_text()), json.loads(b.read_text())
    left = {key: drawn(value) for key, value in left.items()}
    right = {key: drawn(value) for key, value in right.items()}
    bad = 0
    for key in sorted(set(left) | set(right)):
        x, y = left.get(key), right.get(key)
        if x != y:
            bad += 1
            print(f"--- DIFFERENT: {key}")
            for line in list(
                difflib.unified_diff((x or "").splitlines(), (y or "").splitlines(), lineterm="", n=1)
            )[:40]:
                print(line)
    print(f"{len(set(left) | set(right))} responses compared, {bad} different")
    return 1 if bad else 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--root", default=str(Path(__file__).resolve().parents[2]), help="the tree to render with"
    )
    parser.add_argument("--dump", type=Path)
    parser.add_argument("--compare", nargs=2, type=Path)
    args = parser.parse_args()
    if args.compare:
        sys.exit(compare(*args.compare))
    root = Path(args.root).resolve()
    os.chdir(root)
    sys.path.insert(0, str(root))
    os.environ["EMBEDDED_DB_NAME"] = DB_NAME
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "neuronsite.settings")
    os.environ.setdefault("DEBUG", "false")
    import django

    django.setup()
    dump(args.dump)


if __name__ == "__main__":
    main()
