"""The stages of one /mcp request, in the order mcpserver/asgi.py runs them.

1. `guard`: transport checks and the one JSON-RPC message (`Inbound`);
2. `authentication`: bearer token -> `Principal`, or the 401 challenge;
3. `admission`: per-tenant and per-client quotas (429 over them);
4. `decide`: the policy decision for a `tools/call`, and a refusal's audit
   row and answer;
5. `dispatch`: the SDK session manager, or the fast path.

Beside them: `inbound` (the checked request the guard hands on),
`refusal` (how any stage refuses) and `admitted` (what dispatch hands to
the SDK's handlers). A stage may import those and the stages before it,
never a later one; what a stage learns reaches the next as an argument.
"""
