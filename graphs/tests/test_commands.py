"""register_transcoders and generate_graph through call_command."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from graphs.models import GraphMetadata


def test_register_and_generate(graph_model, graph_folders):
    out = StringIO()
    call_command(
        "register_transcoders", "--model", "gtiny", "--set", "tc2", "--folder", str(graph_folders["transcoders"]),
        stdout=out,
    )  # fmt: skip
    assert "gtiny/tc2: 2 transcoder layers" in out.getvalue()
    out = StringIO()
    call_command(
        "generate_graph", "--model", "gtiny", "--prompt", "Hello there", "--source-set", "tc2", "--slug", "cli",
        "-v", "2", stdout=out,
    )  # fmt: skip
    assert "Graph gtiny/cli:" in out.getvalue() and "attributing" in out.getvalue()
    graph = GraphMetadata.objects.get(slug="cli")
    assert graph.source_set_name == "tc2" and graph.owner is None


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["generate_graph", "--model", "nope", "--prompt", "x"], "nope"),
        (["generate_graph", "--model", "gtiny", "--prompt", "x", "--node-threshold", "2"], "nodeThreshold"),
        (["generate_graph", "--model", "gtiny", "--prompt", "x", "--source-set", "res"], "no transcoders"),
        (
            ["register_transcoders", "--model", "gtiny", "--set", "x", "--folder", "/nonexistent"],
            "config.yaml",
        ),
        (["register_transcoders", "--model", "nomodel", "--set", "x", "--folder", "{tc}"], "nomodel"),
    ],
)
def test_command_bad_input(graph_model, graph_folders, args, needle):
    args = [a.replace("{tc}", str(graph_folders["transcoders"])) for a in args]
    with pytest.raises(CommandError, match=needle):
        call_command(*args)
    assert not GraphMetadata.objects.exists()
