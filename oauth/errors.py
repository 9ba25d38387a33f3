"""The error responses of the authorization server's own endpoints."""

from http import HTTPStatus

from django.http import JsonResponse

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def oauth_error(
    error: str, description: str, status: int = HTTPStatus.BAD_REQUEST
) -> JsonResponse:
    """An RFC 6749 §5.2-shaped error response, never cached."""
    response = JsonResponse(
        {"error": error, "error_description": description}, status=status
    )
    for header, value in NO_STORE.items():
        response[header] = value
    return response
