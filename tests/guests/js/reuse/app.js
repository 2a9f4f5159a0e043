/// <reference types="@fastly/js-compute" />
// Asks the platform to reuse this sandbox for many requests; the counter
// lives in the instance, so a count above 1 proves reuse.
import { setReusableSandboxOptions } from "fastly:experimental";

setReusableSandboxOptions({ maxRequests: 0, betweenRequestTimeoutMs: 5000 });

let served = 0;
addEventListener("fetch", (event) => {
  served += 1;
  event.respondWith(new Response(`served ${served}\n`, { headers: { "content-type": "text/plain" } }));
});
