"""The database cache table (``neuronsite_cache``) that counts rate limits for every web process
when no REDIS_URL is set (issue 10). Created whatever the cache setting is at migration time (the
same table ``manage.py createcachetable`` makes), so switching from Redis to the database cache
later needs no extra step."""

from django.db import migrations

CREATE = """
CREATE TABLE IF NOT EXISTS "neuronsite_cache" (
    "cache_key" varchar(255) NOT NULL PRIMARY KEY,
    "value" text NOT NULL,
    "expires" timestamp with time zone NOT NULL
);
CREATE INDEX IF NOT EXISTS "neuronsite_cache_expires" ON "neuronsite_cache" ("expires");
"""


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [migrations.RunSQL(CREATE, 'DROP TABLE IF EXISTS "neuronsite_cache"')]
