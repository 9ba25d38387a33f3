from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """The project's user, custom from the first migration.

    Users are deactivated (`is_active = False`), never deleted: audit rows
    point at them with PROTECT.
    """

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
