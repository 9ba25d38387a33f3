"""An audit row's decision in words, as the console's detail page says it."""

import pytest

from audit.decision_words import decision_in_words


@pytest.mark.parametrize(
    ("event", "outcome", "reason", "words"),
    [
        ("tool_called", "ok", "", "called"),
        ("tool_called", "ok", "deleted 3 documents", "called: deleted 3 documents"),
        (
            "tool_denied",
            "denied",
            "missing_scope: needs admin",
            "refused: needs scope admin",
        ),
        (
            "tool_denied",
            "denied",
            "missing_scope: needs admin tools:call",
            "refused: needs scopes admin tools:call",
        ),
        ("tool_denied", "denied", "unknown_tool", "refused: unknown tool"),
        (
            "tool_denied",
            "denied",
            "tool_not_enabled",
            "refused: tool not enabled for the tenant",
        ),
        (
            "tool_denied",
            "denied",
            "invalid token: revoked",
            "refused: invalid token: revoked",
        ),
        (
            "tool_failed",
            "error",
            "invalid params: message: 3 is not of type 'string'",
            "failed: invalid params: message: 3 is not of type 'string'",
        ),
        ("tool_failed", "error", "internal error", "failed: internal error"),
        (
            "login_failed",
            "denied",
            "bad password",
            "refused: login failed: bad password",
        ),
        ("token_issued", "ok", "scope=tools:call", "token issued: scope=tools:call"),
        ("admin_action", "ok", "", "admin action"),
    ],
)
def test_decision_in_words(event, outcome, reason, words):
    assert decision_in_words(event=event, outcome=outcome, reason=reason) == words
