"""The /authorize query: what is cleaned out of it, what a decision binds to.

- `cleaned_query`: unknown scopes (such as `offline_access`) are dropped
  and `approval_prompt` is ignored, so a client can neither ask for what
  this server does not define nor skip consent; the view redirects to the
  cleaned URL before anything else.
- `BOUND_PARAMETERS`: the OAuth parameters a consent decision takes from
  the validated query, never from the POSTed form.
"""

from django.conf import settings
from django.http import QueryDict

BOUND_PARAMETERS = (
    "client_id",
    "redirect_uri",
    "response_type",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
)


def cleaned_query(query: QueryDict) -> str | None:
    """The query without unknown scopes or approval_prompt; None if unchanged."""
    query = query.copy()
    changed = False
    if "approval_prompt" in query:
        query.pop("approval_prompt")
        changed = True
    if "scope" in query:
        requested = query.get("scope", "").split()
        known = [s for s in dict.fromkeys(requested) if s in settings.OAUTH_SCOPES]
        if known != requested:
            changed = True
            if known:
                query["scope"] = " ".join(known)
            else:
                query.pop("scope")
    return query.urlencode() if changed else None
