from django.test import override_settings

from inference.engine import ModelSpec, get_engine
from inference.preload import schedule_preload


def test_preload_loads_named_models_on_the_engine_thread(tiny):
    engine = get_engine()
    engine.call(engine.unload)
    with override_settings(INFERENCE_PRELOAD_MODELS=["tiny", "no-such-model"]):
        futures = schedule_preload()
    assert len(futures) == 1
    futures[0].result(timeout=120)
    assert ModelSpec.of(tiny["model"]) in engine.loaded_models()


def test_preload_does_nothing_without_the_setting(db):
    with override_settings(INFERENCE_PRELOAD_MODELS=[]):
        assert schedule_preload() == []
