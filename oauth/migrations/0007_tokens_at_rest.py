# Tokens at rest (issue #14 item 2): token values are stored only as keyed
# hashes (oauth/token_hashing.py). The data step hashes the rows written
# before; it is idempotent (rows already in the `h1$` form are skipped) and
# cannot be reversed (the values are gone).

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models
from oauth2_provider.settings import oauth2_settings

BATCH = 500


def _unhashed(queryset, field):
    """Batches of (pk, value) not yet hashed; each batch is hashed before the
    next is read, so a batch never repeats (and no cursor stays open)."""
    pending = queryset.exclude(**{f"{field}__startswith": "h1$"}).exclude(**{field: ""})
    while batch := list(pending.order_by("pk").values_list("pk", field)[:BATCH]):
        yield batch


def hash_existing_rows(apps, schema_editor):
    from oauth.token_hashing import checksum, rekey_sha256_digest, stored_form

    db = schema_editor.connection.alias
    for label in (oauth2_settings.ACCESS_TOKEN_MODEL, oauth2_settings.REFRESH_TOKEN_MODEL):
        model = apps.get_model(label)
        for batch in _unhashed(model.objects.using(db), "token"):
            for pk, token in batch:
                form = stored_form(token)
                # A queryset update: DOT's checksum field computes nothing here.
                model.objects.using(db).filter(pk=pk).update(
                    token=form, token_checksum=checksum(form)
                )
    grant = apps.get_model(oauth2_settings.GRANT_MODEL)
    for batch in _unhashed(grant.objects.using(db), "code"):
        for pk, code in batch:
            grant.objects.using(db).filter(pk=pk).update(code=stored_form(code))
    # Only the plain SHA-256 of these codes was kept: re-key that digest.
    record = apps.get_model("oauth", "AuthorizationRecord")
    for batch in _unhashed(record.objects.using(db), "code_hash"):
        for pk, digest in batch:
            record.objects.using(db).filter(pk=pk).update(
                code_hash=rekey_sha256_digest(digest)
            )


class Migration(migrations.Migration):
    dependencies = [
        ("oauth", "0006_issued_access_tokens"),
        ("oauth2_provider", "0022_refreshtoken_token_family_index"),
        migrations.swappable_dependency(oauth2_settings.REFRESH_TOKEN_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="RefreshSuccessor",
            fields=[
                (
                    "refresh_token",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to=oauth2_settings.REFRESH_TOKEN_MODEL,
                    ),
                ),
                ("sealed", models.TextField(editable=False)),
                (
                    "created_at",
                    models.DateTimeField(
                        default=django.utils.timezone.now, editable=False
                    ),
                ),
            ],
        ),
        migrations.AlterField(
            model_name="authorizationrecord",
            name="code_hash",
            field=models.CharField(max_length=80, unique=True),
        ),
        migrations.RunPython(hash_existing_rows, migrations.RunPython.noop),
    ]
