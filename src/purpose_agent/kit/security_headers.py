"""Security headers on every response, and the optional redirect of plain HTTP to HTTPS.

The API serves JSON and never HTML but for the docs page, so the default Content-Security-Policy
allows nothing at all; a route that serves a page (the docs) sets its own, narrower than any
default could be, and it is kept. HSTS is sent only in production, where TLS is expected in
front of the service; sending it from a developer's plain-HTTP laptop would pin browsers to HTTPS
for localhost.
"""

from __future__ import annotations

from starlette.datastructures import URL, Headers, MutableHeaders
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
HSTS = "max-age=31536000; includeSubDomains"
FIXED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def page_csp(script_hashes: list[str]) -> str:
    """The policy of a page whose scripts come from this origin (inline ones only by hash); Swagger UI
    sets inline styles, which cannot run code."""
    scripts = " ".join(["'self'", *(f"'sha256-{digest}'" for digest in script_hashes)])
    return (
        f"default-src 'none'; script-src {scripts}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, hsts: bool, https_redirect: bool = False) -> None:
        self.app = app
        self.hsts = hsts
        self.https_redirect = https_redirect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.https_redirect and _is_plain_http(scope):
            url = URL(scope=scope).replace(scheme="https")
            await RedirectResponse(str(url), status_code=308)(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in FIXED_HEADERS.items():
                    headers.setdefault(name, value)
                headers.setdefault("Content-Security-Policy", API_CSP)
                if self.hsts:
                    headers.setdefault("Strict-Transport-Security", HSTS)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _is_plain_http(scope: Scope) -> bool:
    if scope.get("scheme") == "https":
        return False
    # Set by the client-address middleware only for requests that came through a trusted proxy.
    forwarded = (scope.get("state") or {}).get("forwarded_proto")
    if forwarded:
        return str(forwarded) != "https"
    return Headers(scope=scope).get("host", "").split(":")[0] not in {"127.0.0.1", "localhost", "::1"}
