from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from accounts.models import User
from tenants.models import Membership


class MembershipInline(admin.TabularInline):
    model = Membership
    fk_name = "user"
    extra = 0
    autocomplete_fields = ["tenant"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Users and their memberships; oauth/admin.py adds token revocation."""

    inlines = [MembershipInline]
    list_display = ["username", "email", "is_active", "is_staff", "date_joined"]
