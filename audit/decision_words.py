"""An audit row's decision, in the words an operator reads on its detail page.

The reasons are the ones the MCP edge records (`mcpserver.policy.Decision`'s
`audit_reason`, "invalid params: ...", "invalid token: ...") and the free
text of auth and admin events. Unknown shapes are shown as they are, after
the word for the outcome: nothing recorded is hidden by the rewording.
"""

from audit.models import AuditEvent

Event = AuditEvent.Event
Outcome = AuditEvent.Outcome

# mcpserver.policy's refusal codes (kept as text: audit reads, never imports,
# the MCP layer).
_REFUSALS = {
    "unknown_tool": "unknown tool",
    "tool_not_enabled": "tool not enabled for the tenant",
}
_MISSING_SCOPE = "missing_scope"


def _refusal(reason: str) -> str:
    code, _, rest = reason.partition(":")
    rest = rest.strip()
    if code == _MISSING_SCOPE:
        scopes = rest.removeprefix("needs").strip()
        plural = "s" if len(scopes.split()) > 1 else ""
        return f"needs scope{plural} {scopes}" if scopes else "missing scope"
    if code in _REFUSALS and not rest:
        return _REFUSALS[code]
    return reason


def decision_in_words(*, event: str, outcome: str, reason: str) -> str:
    """The decision of one row: "called", "refused: ...", "failed: ..."...

    Tool events read as the MCP edge decided them ("refused: needs scope
    admin" for `missing_scope: needs admin`); other events as their label,
    with "refused"/"failed" for a denied or failed outcome, and the reason.
    """
    reason = reason.strip()
    if event == Event.TOOL_CALLED:
        return f"called: {reason}" if reason else "called"
    if event == Event.TOOL_DENIED or (
        event.startswith("tool_") and outcome == Outcome.DENIED
    ):
        return f"refused: {_refusal(reason)}" if reason else "refused"
    if event == Event.TOOL_FAILED:
        return f"failed: {reason}" if reason else "failed"
    label = Event(event).label if event in Event.values else event
    words = {Outcome.DENIED: "refused", Outcome.ERROR: "failed"}.get(outcome)
    head = f"{words}: {label.lower()}" if words else label.lower()
    return f"{head}: {reason}" if reason else head
