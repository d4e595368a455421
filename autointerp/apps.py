from django.apps import AppConfig


class AutointerpConfig(AppConfig):
    name = "autointerp"
    verbose_name = "Automatic interpretability"
