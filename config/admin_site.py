"""The operator console: Django's admin, open to tenant administrators too.

Django's own site admits only staff. This one also admits an active user
who holds the admin role in an active tenant; what they then see is
limited by tenants/admin_scoping.py. Its login form admits them too, and
every sign-in attempt is audited (config/admin_login.py). INSTALLED_APPS names
`ConsoleAdminConfig` instead of `django.contrib.admin`, so `admin.site`
(and every `@admin.register`) is this site.
"""

from typing import Any

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig
from django.db import transaction
from django.http import HttpRequest, HttpResponse


class ConsoleAdminSite(AdminSite):
    site_header = "MCP server: operator console"
    site_title = "MCP operator console"
    index_title = "Tenants, tools, clients and the audit log"
    # The changelists (the audit log above all) need the width more than a
    # second copy of the index's model list does.
    enable_nav_sidebar = False

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        if not user.is_active:
            return False
        if user.is_staff:
            return True
        # Imported here: this module is loaded while the app registry is
        # still being populated (it names the default admin site).
        from tenants.selectors import administered_tenant_ids

        return bool(administered_tenant_ids(user=user))

    @property
    def login_form(self) -> Any:
        from config.admin_login import ConsoleAuthenticationForm

        return ConsoleAuthenticationForm

    def login(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Django's admin login; each attempt is audited with the sign-in."""
        from config.admin_login import record_sign_in

        with transaction.atomic():
            response = super().login(request, extra_context)
            record_sign_in(request, response)
        return response


class ConsoleAdminConfig(AdminConfig):
    default_site = "config.admin_site.ConsoleAdminSite"
