from django.contrib import admin
from django.urls import include, path

from accounts.views import home
from config.health_views import healthz, readyz
from oauth.views_account import account, revoke_application

urlpatterns = [
    path("", home, name="home"),
    path("account/", account, name="account"),
    path(
        "account/clients/<int:application_id>/revoke/",
        revoke_application,
        name="revoke-application",
    ),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("", include("oauth.urls", namespace="oauth2_provider")),
]
