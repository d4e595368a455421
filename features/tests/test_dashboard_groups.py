"""The dashboard's snippet groups: distinct contexts per group (also for imported data that
repeats one), interval rows shown at their qualifying token, and "contains" as a percentage."""

import re

from features.models import Activation
from features.snippet_data import page_data, render_html


def _row(feature, tokens, values, **kw):
    mx = max(values)
    return Activation.objects.create(
        feature=feature,
        tokens=tokens,
        values=values,
        max_value=mx,
        max_value_token_index=values.index(mx),
        **kw,
    )


def _drawn(html: str) -> str:
    """A page's snippets as the browser draws them (snippets.js mirrors ``render_html``;
    test_snippet_data.py checks both against the server's renderer); a fragment as it is."""
    data = page_data(html)
    return html if data is None else "".join(render_html(data))


def _snips(html: str) -> list[str]:
    return re.findall(r'<div class="snip">(.*?)</div>', _drawn(html))


def test_identical_imported_rows_are_shown_once_per_group(client, make_feature):
    feature = make_feature(index=3, max_act_approx=2.0)
    same = (["a", "Ġb", "Ġc"], [0.0, 2.0, 0.5])
    for _ in range(3):  # an import that stored one context once per qualifying token
        _row(feature, *same, bin_min=-1, bin_max=2.0, bin_contains=-1)
    _row(feature, ["x", "Ġy"], [1.5, 0.0], bin_min=-1, bin_max=2.0, bin_contains=-1)
    # the same context in an interval group is a different group: kept there
    _row(feature, *same, bin_min=0.4, bin_max=0.8, bin_contains=0.01, qualifying_token_index=2)
    html = client.get("/tiny/0-res-test/3").content.decode()
    snips = _snips(html)
    assert len(snips) == 3  # 2 distinct top contexts + 1 interval row
    assert len(set(snips)) == 3  # never two identical rows
    assert "· 2 snippets" in html and "Show more" not in html
    # "show more" pages count distinct contexts too
    page = client.get("/tiny/0-res-test/3/activations?offset=0&limit=10").content.decode()
    assert len(_snips(page)) == 2
    assert client.get("/tiny/0-res-test/3/activations?offset=1&limit=10").content.decode().count("snip") == 1


def test_interval_rows_show_the_qualifying_token_value_centred_on_it(client, make_feature):
    feature = make_feature(index=4, max_act_approx=3.0)
    tokens = [f"w{i}" for i in range(40)]
    values = [0.0] * 40
    values[30] = 3.0  # the prompt's max, far above the interval
    values[5] = 0.2  # the token that put the snippet in 0.0 – 0.6
    _row(feature, tokens, values, bin_min=0.0, bin_max=0.6, bin_contains=0.011, qualifying_token_index=5)
    html = client.get("/tiny/0-res-test/4").content.decode()
    assert "Interval 0.000 – 0.600" in html
    assert "contains 1.10% of tokens" in html and "of activations" not in html
    (snip,) = _snips(html)
    shown = re.match(r'<span class="mx"[^>]*>([0-9.]+)</span>', snip).group(1)
    assert shown == "0.200"  # the qualifying token's value, inside the interval, not the max 3.000
    assert 'class="t q a" style="--a:0.07" title="0.200">w5</span>' in snip  # centred and marked
    assert 'class="t c16 a" style="--a:1.00" title="3.000">w30</span>' in snip  # 25 away: hidden at ±16
    assert 'class="t">w0</span>' in snip  # within ±5 of the qualifying token


def test_top_rows_without_a_qualifying_index_centre_on_the_max(client, make_feature):
    feature = make_feature(index=6, max_act_approx=1.0)
    tokens = [f"w{i}" for i in range(30)]
    values = [0.0] * 30
    values[25] = 1.0
    _row(feature, tokens, values, bin_min=None, bin_max=None)
    (snip,) = _snips(client.get("/tiny/0-res-test/6").content.decode())
    assert snip.startswith('<span class="mx" title="activation at the marked token">1.000</span>')
    assert 'class="t q a" style="--a:1.00" title="1.000">w25</span>' in snip
    assert 'class="t c16">w0</span>' in snip


def test_split_utf8_bytes_join_and_whitespace_tokens_are_visible(client, make_feature):
    # “ is three bytes in byte-level BPE: 'âĢ' + 'ľ'; 'ðŁĺĢ' split in two is 😀
    feature = make_feature(
        index=7, max_act_approx=1.0, pos_str=["Ġdog", "Ġ", "cat"], pos_values=[0.5, 0.4, 0.3]
    )
    tokens = ["Ġsaid", "Ġâ", "Ģľ", "hi", "ðŁ", "ĺĢ", "Ġ", "ĉ"]
    values = [0.0, 0.2, 0.9, 0.0, 0.1, 0.0, 0.4, 0.0]
    _row(feature, tokens, values)
    html = client.get("/tiny/0-res-test/7").content.decode()
    (snip,) = _snips(html)
    assert "�" not in snip
    # one span per character, carrying the strongest value of its pieces
    assert 'class="t q a" style="--a:0.90" title="0.900"> “</span>' in snip
    assert 'class="t a" style="--a:0.10" title="0.100">😀</span>' in snip
    assert 'class="t ws a" style="--a:0.40" title="0.400"> </span>' in snip  # whitespace-only
    assert 'class="t ws">\t</span>' in snip
    # logit tables: leading spaces shown, a whitespace-only token readable
    assert '<td><span class="ws">·</span>dog</td>' in html
    assert '<td><span class="ws" title="whitespace">·</span></td>' in html
    assert "<td>cat</td>" in html
