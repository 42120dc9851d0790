"""Headers every response carries, so the browser enforces what the pages already do.

- Content-Security-Policy: scripts, styles, connections (the /ws/events socket included:
  CSP3 lets 'self' match ws:/wss: on this host) and images from this site only, no
  inline script, no plugins, no framing, forms post here only. The pages have no inline
  script: chat.html's plan is a `<script type="application/json">` data block, which the
  browser never executes, so `script-src 'self'` does not apply to it (static/chat.js
  reads it with JSON.parse); tests/web/test_browser_guardrails.py checks a real Chromium
  reports no violation.
- X-Frame-Options DENY (for browsers without frame-ancestors), nosniff, a Referrer-Policy
  that sends no path (paths hold ids) to other sites.
- Cache-Control: no-store on everything but /static: private pages and API answers must
  not come back from the cache after logout (Back used to show the profile and tokens).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)
ALWAYS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
PUBLIC_PREFIX = "/static/"


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        private = not str(scope.get("path", "")).startswith(PUBLIC_PREFIX)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in ALWAYS.items():
                    headers[name] = value
                if private:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, with_headers)
