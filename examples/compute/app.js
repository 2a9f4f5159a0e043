/// <reference types="@fastly/js-compute" />
// The built-in example Compute program (JavaScript, Fastly's own SDK): a
// greeting from a config store, a KV store lookup, the client's location,
// and a log line per request. `bash scripts/demo` builds it and serves it
// with `anywhere serve`, reading the fastly.toml beside it.
import { ConfigStore } from "fastly:config-store";
import { KVStore } from "fastly:kv-store";
import { Logger } from "fastly:logger";
import { getGeolocationForIpAddress } from "fastly:geolocation";

async function handle(event) {
  const url = new URL(event.request.url);
  new Logger("requests").log(`${event.request.method} ${url.pathname}`);
  if (url.pathname.startsWith("/kv/")) {
    const entry = await new KVStore("content").get(url.pathname.slice(4));
    return entry
      ? new Response(await entry.text(), { headers: { "content-type": "text/plain" } })
      : new Response("no such key\n", { status: 404 });
  }
  const greeting = new ConfigStore("settings").get("greeting") ?? "hello";
  const where = getGeolocationForIpAddress(event.client.address);
  const body = `${greeting}, visitor from ${where?.city ?? "somewhere"} (${event.client.address})\n`;
  return new Response(body, { headers: { "content-type": "text/plain", "x-served-by": "fastly-anywhere" } });
}

addEventListener("fetch", (event) => event.respondWith(handle(event)));
