"""ASGI entry point: HTTP through Django, websockets through Channels (see routing.py)."""

import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "neuronsite.settings")

# Load (issue 10): Django's ASGI handler with the middleware chain in one thread hop (asgi_handler.py).
from neuronsite.asgi_handler import get_asgi_application  # noqa: E402
from neuronsite.staticfiles import SafeASGIStaticFilesHandler  # noqa: E402

# Static files are served by the app itself so that `make run` needs no web server in front;
# behind a load balancer, run collectstatic and let it (or S3) serve /static/.
django_asgi_app = SafeASGIStaticFilesHandler(get_asgi_application())

from django.conf import settings  # noqa: E402

# Load (issue 10, helper L8b): a web process's GIL switch interval (settings.WEB_GIL_SWITCH_INTERVAL_MS).
if settings.WEB_GIL_SWITCH_INTERVAL_MS > 0:
    sys.setswitchinterval(settings.WEB_GIL_SWITCH_INTERVAL_MS / 1000)

from neuronsite.asgi_handler import ServerTimingMiddleware  # noqa: E402

if settings.SERVER_TIMING:  # Load (issue 10): server time per response, for bench/load
    django_asgi_app = ServerTimingMiddleware(django_asgi_app)

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from neuronsite.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)

# Models named in INFERENCE_PRELOAD_MODELS start loading on the engine thread (not waited for).
from inference.preload import schedule_preload  # noqa: E402

schedule_preload()

# autointerp (helper J): with AUTOINTERP_PRELOAD_EMBEDDER the embedding model loads in the
# background now, so the first semantic search does not wait for it (off by default: no torch).
from autointerp.engines.embeddings import schedule_warm  # noqa: E402

schedule_warm()
