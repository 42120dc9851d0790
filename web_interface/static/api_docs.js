// Swagger UI for /api/v1 (no inline script: the page's CSP allows scripts from this site only).
// "Try it out" from a logged-in browser sends the session's CSRF token, as app.js does.
(function () {
  "use strict";
  var root = document.getElementById("api-docs");
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  window.SwaggerUIBundle({
    url: root.getAttribute("data-spec"),
    domNode: root,
    deepLinking: true,
    requestInterceptor: function (request) {
      request.headers["X-CSRF-Token"] = csrf;
      return request;
    },
  });
})();
