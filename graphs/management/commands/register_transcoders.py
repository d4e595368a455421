"""Register a transcoder set (circuit-tracer folder format) as a graph-capable source set."""

from django.core.management.base import BaseCommand

from neuronsite.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Register a folder of per-layer transcoders in circuit-tracer's format (config.yaml + "
        "layer_{i}.safetensors) or a cross-layer transcoder (config.yaml with model_kind: "
        "cross_layer_transcoder + W_enc_{i}/W_dec_{i}.safetensors) as source set SET of MODEL, "
        "with graphs allowed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--model", required=True, help="model id (must exist)")
        parser.add_argument("--set", required=True, dest="set_name", help="source set name, e.g. tc-demo")
        parser.add_argument("--folder", required=True, help="circuit-tracer transcoder folder")
        parser.add_argument("--description", default="")

    def handle(self, *args, **opt):
        from graphs.services import transcoder_set_register

        try:
            source_set = transcoder_set_register(
                model_name=opt["model"],
                set_name=opt["set_name"],
                folder=opt["folder"],
                description=opt["description"],
            )
        except ApplicationError as exc:
            raise exc.as_command_error() from exc
        n = source_set.sources.count()
        kind = "CLT" if source_set.type == "clt" else "transcoder"
        self.stdout.write(f"Registered {opt['model']}/{source_set.name}: {n} {kind} layers.")
