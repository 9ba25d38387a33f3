from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.http import HttpRequest

from accounts.models import User
from audit.admin_actions import record_deactivation
from oauth.models import Revocation
from tenants.models import Membership


class MembershipInline(admin.TabularInline):
    model = Membership
    fk_name = "user"
    extra = 0
    autocomplete_fields = ["tenant"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    inlines = [MembershipInline]
    list_display = ["username", "email", "is_active", "is_staff", "date_joined"]

    def save_model(
        self, request: HttpRequest, obj: User, form: object, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            record_deactivation(
                kind=Revocation.Kind.USER,
                subject=str(obj.pk),
                label=obj.username,
                actor_id=request.user.pk,
            )
