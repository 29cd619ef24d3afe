"""Who may call which of the api's methods (the tokens themselves are checked by
`polyvisor.common.auth.JwtAuthenticator`, with its cache of verified tokens and the
revocation feed)."""

from __future__ import annotations

from polyvisor.common.auth import CONSOLE_IDENTITY, MethodRules

IDENTITY_AUTHENTICATE = "/polyvisor.identity.v1.IdentityService/Authenticate"

#: People (users and admins; handlers check roles and projects) call compute and identity;
#: agents call only the callback service, for their own host; the scheduler's and other
#: services' identities call nothing here, but the console proxy redeems console tokens.
API_RULES = MethodRules(
    {
        "/polyvisor.compute.v1.ComputeService/": ("user",),
        "/polyvisor.identity.v1.IdentityService/": ("user",),
        "/polyvisor.agent.v1.AgentCallbackService/": ("agent",),
        "/polyvisor.consoleauth.v1.ConsoleAuthService/": (f"service:{CONSOLE_IDENTITY}",),
    }
)
