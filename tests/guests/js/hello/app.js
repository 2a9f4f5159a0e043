/// <reference types="@fastly/js-compute" />
// The smallest useful Compute program: answers every request with a fixed body.
addEventListener("fetch", (event) => {
  event.respondWith(new Response("hello from Compute\n", {
    status: 200,
    headers: { "content-type": "text/plain" },
  }));
});
