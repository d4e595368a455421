"""Small shared model fields and choices."""

from django.db import models


class RealField(models.FloatField):
    """4-byte float (PostgreSQL ``real``): activation values need no more, and the activation
    table is the biggest in the database."""

    def db_type(self, connection) -> str:
        return "real"


class Visibility(models.TextChoices):
    PUBLIC = "PUBLIC", "Public"
    UNLISTED = "UNLISTED", "Unlisted"
    PRIVATE = "PRIVATE", "Private"
