"""Build the offline demo (model, SAEs, dashboards, explanations, list) unless it exists."""

from dataclasses import asdict, fields
from pathlib import Path

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Train a small transformer + BPE tokenizer and TopK SAEs on pydoc_data.topics, register them, "
        "generate dashboards, explain features and create an example list. Cached in DATA_DIR/demo; "
        "does nothing when the demo model is already registered with dashboards."
    )

    def add_arguments(self, parser):
        from inference.demo.seed import DemoSpec

        parser.add_argument("--data-dir", help="where to cache the trained folders (default: DATA_DIR)")
        for f in fields(DemoSpec):
            if f.type in ("int", "bool") and f.name != "version":
                flag = "--" + f.name.replace("_", "-")
                if f.type == "bool":
                    parser.add_argument(
                        flag, type=lambda v: v.lower() in {"1", "true", "yes"}, default=f.default
                    )
                else:
                    parser.add_argument(flag, type=int, default=f.default)
        parser.add_argument("--layers", default="0,1", help="layers to train SAEs on (comma-separated)")
        parser.add_argument(
            "--enqueue",
            action="store_true",
            help="queue the seeding as a job (progress on the home page) unless seeded or already queued",
        )

    def handle(self, *args, **opt):
        from inference.demo.seed import DemoSpec, demo_is_seeded

        if demo_is_seeded():  # before any heavy import: later starts are instant
            self.stdout.write("Demo already seeded.")
            return
        from django.core.management.base import CommandError

        from inference.demo.seed import demo_seed

        try:
            layers = tuple(int(x) for x in opt["layers"].split(",") if x.strip())
        except ValueError as exc:
            raise CommandError(f"--layers must be comma-separated integers, got {opt['layers']!r}") from exc
        values = {f.name: opt[f.name] for f in fields(DemoSpec) if f.name in opt and f.name != "layers"}
        spec = DemoSpec(layers=layers, **values)
        if not layers or any(not 0 <= layer < spec.n_layers for layer in layers):
            raise CommandError(f"--layers must be within 0..{spec.n_layers - 1}")
        if opt["enqueue"]:
            from inference.tasks import demo_job_create
            from neuronsite.jobs.models import ACTIVE_STATES, Job

            pending = Job.objects.filter(kind="demo", state__in=ACTIVE_STATES).first()
            if pending is not None:
                self.stdout.write(f"Demo job {pending.pk} is already {pending.state}.")
                return
            job = demo_job_create(spec=asdict(spec), data_dir=opt["data_dir"])
            self.stdout.write(f"Queued the demo as job {job.pk}; a job worker builds it.")
            return
        result = demo_seed(
            spec=spec,
            data_dir=Path(opt["data_dir"]) if opt["data_dir"] else None,
            log=lambda msg: self.stdout.write(msg) if opt["verbosity"] else None,
        )
        timings = ", ".join(f"{k} {v:.0f}s" for k, v in result.seconds.items())
        self.stdout.write(
            f"Demo seeded: {result.features} features, {result.explanations} explanations ({timings})."
        )
