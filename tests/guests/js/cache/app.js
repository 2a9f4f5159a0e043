/// <reference types="@fastly/js-compute" />
// The cache from JavaScript: fetch through the readthrough cache with and
// without overrides, the Core Cache, the simple cache and surrogate-key
// purges. Built twice by tests/guests/build: as is, and with
// --enable-http-cache (the SDK then drives the HTTP cache API itself).
import { CoreCache, SimpleCache } from "fastly:cache";
import { CacheOverride } from "fastly:cache-override";
import { purgeSurrogateKey } from "fastly:compute";

addEventListener("fetch", (event) => event.respondWith(handle(event.request)));

function toOrigin(req, path, cacheOverride) {
  const init = { backend: "origin" };
  if (cacheOverride) {
    init.cacheOverride = cacheOverride;
  }
  return fetch(new Request(`http://origin/${path}`, req), init);
}

async function handle(req) {
  const url = new URL(req.url);
  const [, route, ...rest] = url.pathname.split("/");
  const arg = rest.join("/");
  switch (route) {
    case "plain":
      return toOrigin(req, arg);
    case "ttl":
      return toOrigin(req, arg, new CacheOverride("override", { ttl: 60 }));
    case "pass":
      return toOrigin(req, arg, new CacheOverride("pass"));
    case "core": {
      const found = CoreCache.lookup(arg);
      if (found) {
        const body = await new Response(found.body()).text();
        const meta = new TextDecoder().decode(found.userMetadata());
        return new Response(body, {
          headers: { "x-core": "hit", "x-core-hits": String(found.hits()), "x-meta": meta },
        });
      }
      const value = `core-${arg}-${Date.now()}`;
      const writer = CoreCache.insert(arg, {
        maxAge: 60_000,
        surrogateKeys: [`grp-${arg}`],
        userMetadata: "m1",
      });
      writer.append(value);
      writer.close();
      return new Response(value, { headers: { "x-core": "miss" } });
    }
    case "simple": {
      let computed = false;
      const entry = await SimpleCache.getOrSet(arg, async () => {
        computed = true;
        return { value: `simple-${arg}-${Date.now()}`, ttl: 60 };
      });
      return new Response(await entry.text(), { headers: { "x-core": computed ? "miss" : "hit" } });
    }
    case "purge":
      purgeSurrogateKey(arg);
      return new Response("purged\n");
    default:
      return new Response("no such route\n", { status: 404 });
  }
}
