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
    out, err = StringIO(), StringIO()
    call_command(
        "generate_graph", "--model", "gtiny", "--prompt", "Hello there", "--source-set", "tc2", "--slug", "cli",
        stdout=out, stderr=err,
    )  # fmt: skip
    assert "Graph gtiny/cli:" in out.getvalue()
    assert "1000/1000" in err.getvalue()  # the progress bar over circuit-tracer's phases, filled
    graph = GraphMetadata.objects.get(slug="cli")
    assert graph.source_set_name == "tc2" and graph.owner is None


def test_generate_graph_enqueue_queues_a_gpu_job(graph_model):
    from django.db import connection

    from neuronsite.jobs.models import Job

    out = StringIO()
    call_command(
        "generate_graph", "--model", "gtiny", "--prompt", "Hello", "--slug", "later", "--enqueue", stdout=out
    )
    job = Job.objects.get(kind="graph")
    assert f"Queued job {job.pk}" in out.getvalue() and job.state == "queued" and job.unit == "‰"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT task_name, queue_name, status FROM procrastinate_jobs WHERE id = %s",
            [job.parts[0]["task_id"]],
        )
        assert cursor.fetchone() == ("graphs.generate", "gpu", "todo")
    assert not GraphMetadata.objects.exists()  # written by the worker, not by the command


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
