from django.urls import path

from accounts.views import AuditedLoginView, ConfirmingLogoutView

urlpatterns = [
    path("login/", AuditedLoginView.as_view(), name="login"),
    path("logout/", ConfirmingLogoutView.as_view(), name="logout"),
]
