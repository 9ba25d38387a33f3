"""Every change made through the operator console is an `admin_action` audit row.

`AuditedAdmin` is mixed into every admin that writes (before the
ModelAdmin it extends). Adds, changes and deletes, of the object itself and
of its inline rows, each append one row in the transaction of the change
(Django's change and delete views run in one; bulk deletes are wrapped in
one here), recording who (the actor), what (model, object id and label)
and, for adds and changes, each changed field before and after. Fields
whose name says they hold a secret (passwords, client secrets, tokens,
keys) are masked; the audit log never holds one.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction
from django.db.models import Model, QuerySet
from django.forms import BaseForm
from django.http import HttpRequest

from audit.models import AuditEvent
from audit.services import record_event
from tenants.admin_scoping import request_tenant_ids
from tenants.models import Tenant

MASK = "********"
SECRET_WORDS = ("password", "secret", "token", "private_key", "key_encrypted")


def is_secret(field_name: str) -> bool:
    """Whether a field's value must never reach the audit log."""
    name = field_name.lower()
    return any(word in name for word in SECRET_WORDS)


def plain(value: Any) -> Any:
    """A form value as JSON data: rows become their ids, sets sorted lists."""
    if isinstance(value, Model):
        return value.pk
    if isinstance(value, QuerySet | list | tuple | set | frozenset):
        return sorted((plain(item) for item in value), key=str)
    if hasattr(value, "name") and hasattr(value, "read"):  # an uploaded file
        return value.name
    return value


def form_changes(form: BaseForm, *, adding: bool) -> dict[str, dict[str, Any]]:
    """Each changed field of `form` with its value before and after, secrets masked."""
    changes: dict[str, dict[str, Any]] = {}
    for name in form.changed_data:
        before = None if adding else form.initial.get(name)
        after = form.cleaned_data.get(name)
        if is_secret(name):
            before = MASK if before else before
            after = MASK if after else after
        changes[name] = {"before": plain(before), "after": plain(after)}
    return changes


def audit_change(
    request: HttpRequest,
    obj: Model,
    *,
    operation: str,
    changes: Mapping[str, Any] | None = None,
) -> None:
    """Append the `admin_action` row of one add, change or delete (joins a txn).

    The tenant is the object's (itself, or its `tenant`), else the one
    tenant the actor administers, if just one; the client is the object's
    `client_id` or its application's. A tenant being deleted is named in the
    row's arguments only (audit rows protect the tenants they point at).
    """
    meta = obj._meta
    fields = sorted(changes or {})
    record_event(
        event=AuditEvent.Event.ADMIN_ACTION,
        user_id=request.user.pk,
        tenant_id=_tenant_id(request, obj, deleting=operation == "delete"),
        client_id=_client_id(obj),
        arguments={
            "operation": operation,
            "model": meta.label_lower,
            "object_id": str(obj.pk),
            "label": str(obj),
            "changes": dict(changes or {}),
        },
        reason=f"{operation} {meta.label_lower} {obj.pk} {str(obj)!r}"
        + (f": {', '.join(fields)}" if fields else ""),
    )


def _tenant_id(request: HttpRequest, obj: Model, *, deleting: bool) -> int | None:
    if isinstance(obj, Tenant):
        return None if deleting else obj.pk
    tenant_id = getattr(obj, "tenant_id", None)
    if isinstance(tenant_id, int):
        return tenant_id
    administered = request_tenant_ids(request)
    if administered is not None and len(administered) == 1:
        return next(iter(administered))
    return None


def _client_id(obj: Model) -> str:
    for candidate in (obj, getattr(obj, "application", None)):
        client_id = getattr(candidate, "client_id", None)
        if isinstance(client_id, str):
            return client_id
    return ""


class AuditedAdmin:
    """ModelAdmin mixin: every add, change and delete is audited with the change."""

    def save_model(
        self, request: HttpRequest, obj: Model, form: BaseForm, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)  # type: ignore[misc]
        audit_change(
            request,
            obj,
            operation="change" if change else "add",
            changes=form_changes(form, adding=not change),
        )

    def delete_model(self, request: HttpRequest, obj: Model) -> None:
        audit_change(request, obj, operation="delete")
        super().delete_model(request, obj)  # type: ignore[misc]

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        # The bulk-delete action runs outside any transaction of Django's.
        with transaction.atomic():
            for obj in queryset:
                audit_change(request, obj, operation="delete")
            super().delete_queryset(request, queryset)  # type: ignore[misc]

    def save_formset(
        self, request: HttpRequest, form: BaseForm, formset: Any, change: bool
    ) -> None:
        deleted = [
            inline.instance
            for inline in formset.deleted_forms
            if inline.instance.pk is not None
        ]
        for obj in deleted:
            audit_change(request, obj, operation="delete")
        forms = {id(inline.instance): inline for inline in formset.forms}
        super().save_formset(request, form, formset, change)  # type: ignore[misc]
        _audit_saved(request, formset.new_objects, forms, operation="add")
        changed = [obj for obj, _fields in formset.changed_objects]
        _audit_saved(request, changed, forms, operation="change")


def _audit_saved(
    request: HttpRequest,
    objects: Iterable[Model],
    forms: Mapping[int, BaseForm],
    *,
    operation: str,
) -> None:
    for obj in objects:
        form = forms.get(id(obj))
        changes = {} if form is None else form_changes(form, adding=operation == "add")
        audit_change(request, obj, operation=operation, changes=changes)
