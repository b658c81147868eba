/* Starts the vendored Swagger UI on /schema. A file rather than the inline script Litestar's own page carries, so
 * the page runs under the same Content-Security-Policy as every other page (script-src 'self', nothing inline).
 */
(function () {
  "use strict";

  function sameOrigin(url) {
    try { return new URL(url, window.location.href).origin === window.location.origin; } catch (e) { return false; }
  }

  function start() {
    var root = document.getElementById("api-docs");
    if (!root || !window.SwaggerUIBundle) { return; }
    var csrf = root.getAttribute("data-csrf-token") || "";
    window.SwaggerUIBundle({
      url: root.getAttribute("data-spec-url"),
      domNode: root,
      deepLinking: true,
      // The default sends the spec's address to validator.swagger.io for a badge: nothing leaves the network.
      validatorUrl: null,
      presets: [window.SwaggerUIBundle.presets.apis],
      layout: "BaseLayout",
      requestInterceptor: function (request) {
        // "Try it out" with the browser's session: writes need the CSRF token our forms send, and only here.
        if (csrf && sameOrigin(request.url)) { request.headers["X-CSRF-Token"] = csrf; }
        return request;
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
