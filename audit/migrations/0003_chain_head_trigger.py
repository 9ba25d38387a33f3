from django.db import migrations

from audit.triggers import drop_chain_trigger, install_chain_trigger


def forwards(apps, schema_editor):
    install_chain_trigger(schema_editor.connection)


def backwards(apps, schema_editor):
    drop_chain_trigger(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_triggers")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
