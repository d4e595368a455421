"""Unguessable share ids for saved searches and steering results (issue 10): add the column,
give every existing row its own random id, then make it unique and required."""

import secrets

from django.db import migrations, models

import inference.models


def backfill(apps, schema_editor):
    for name in ("SteerOutput", "SavedSearch"):
        Model = apps.get_model("inference", name)
        rows = list(Model.objects.filter(share_id__isnull=True).only("pk"))
        for row in rows:
            row.share_id = secrets.token_urlsafe(16)
        Model.objects.bulk_update(rows, ["share_id"], batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [("inference", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="steeroutput", name="share_id", field=models.CharField(max_length=32, null=True)
        ),
        migrations.AddField(
            model_name="savedsearch", name="share_id", field=models.CharField(max_length=32, null=True)
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="steeroutput",
            name="share_id",
            field=models.CharField(
                default=inference.models.new_share_id, editable=False, max_length=32, unique=True
            ),
        ),
        migrations.AlterField(
            model_name="savedsearch",
            name="share_id",
            field=models.CharField(
                default=inference.models.new_share_id, editable=False, max_length=32, unique=True
            ),
        ),
    ]
