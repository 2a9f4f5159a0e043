/// <reference types="@fastly/js-compute" />
// Passes every request to the backend "origin" and returns its response:
// the shape of most real Compute services.
addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  event.respondWith(fetch(new Request(`http://origin${url.pathname}${url.search}`, event.request), { backend: "origin" }));
});
