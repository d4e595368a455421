"""The snippet loop's token cache (a bounded plain dict, with whether each token is a partial
byte-level piece of a character): the same HTML on a miss, a hit and after the bound empties it."""

from features.templatetags import neuronsite_tokens as nt


def test_snippet_html_same_on_miss_hit_and_after_the_bound(monkeypatch):
    monkeypatch.setattr(nt, "_PIECES", {})
    monkeypatch.setattr(nt, "_PIECES_MAX", 8)
    tokens = [f"Ġw{i}" for i in range(6)] + ["Ċ", " ", "<b>&"]
    values = [0.0, 0.5, -0.25, 1.5, 0.0, 0.125, 0.75, 0.0, 2.0]
    first = nt.snippet_html(tokens, values, 2.0, 3)  # misses: fills the cache
    assert len(nt._PIECES) == 9
    assert nt.snippet_html(tokens, values, 2.0, 3) == first  # hits
    other = [f"Ġx{i}" for i in range(9)]
    nt.snippet_html(other, values, 2.0, 3)  # past the bound: emptied, then filled again
    assert len(nt._PIECES) == 9 and "Ġx0" in nt._PIECES and "Ġw0" not in nt._PIECES
    assert nt.snippet_html(tokens, values, 2.0, 3) == first
    assert '<span class="t a" style="--a:0.25" title="0.500"> w1</span>' in first
    assert '<span class="t n" style="--a:0.12" title="-0.250"> w2</span>' in first
    assert '<span class="t nl a" style="--a:0.38" title="0.750">↵</span><span class="t ws"> </span>' in first
    assert 'class="t q a" style="--a:0.75" title="1.500"' in first  # the centre, strongest here
    assert "&lt;b&gt;&amp;" in first  # escaped


def test_partial_byte_tokens_join_on_miss_hit_and_after_the_bound(monkeypatch):
    monkeypatch.setattr(nt, "_PIECES", {})
    monkeypatch.setattr(nt, "_PIECES_MAX", 4)
    tokens = ["Ġsay", "â", "Ģ", "ľ", "hi"]  # the three byte-level tokens of "\u201c"
    values = [0.0, 1.0, 0.5, 0.0, 0.25]
    first = nt.snippet_html(tokens, values, 1.0, 1)
    assert first.count("\u201c") == 1 and "\ufffd" not in first
    assert [nt._PIECES[t][2] for t in tokens] == [False, True, True, True, False]  # partial
    assert nt.snippet_html(tokens, values, 1.0, 1) == first
    nt.snippet_html(["Ġa", "Ġb", "Ġc", "Ġd"], [0.0] * 4, 1.0, 0)  # past the bound: emptied
    assert nt.snippet_html(tokens, values, 1.0, 1) == first
