from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A researcher. ``username`` is the public name shown on lists, comments and explanations."""

    bio = models.TextField(blank=True)

    class Meta:
        db_table = "accounts_user"


class ApiKey(models.Model):
    """An API key, sent by clients in the ``x-api-key`` header (as Neuronpedia's).

    Only a SHA-256 digest is stored; the clear key is shown once, at creation or rotation.
    ``prefix`` (the first characters) lets owners tell their keys apart.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, default="default")
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "revoked_at"])]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name}) of {self.user_id}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
