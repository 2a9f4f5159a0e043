/// <reference types="@fastly/js-compute" />
// Conformance guest: one route per platform feature. Each route answers
// what the platform gave it, so that a test can compare that with what it
// configured (and with Viceroy, Fastly's own local runtime).
import { ConfigStore } from "fastly:config-store";
import { Dictionary } from "fastly:dictionary";
import { KVStore } from "fastly:kv-store";
import { SecretStore } from "fastly:secret-store";
import { Logger } from "fastly:logger";
import { getGeolocationForIpAddress } from "fastly:geolocation";
import { Backend } from "fastly:backend";
import { Acl } from "fastly:acl";
import { RateCounter, PenaltyBox, EdgeRateLimiter } from "fastly:edge-rate-limiter";
import { Device } from "fastly:device";
import { vCpuTime } from "fastly:compute";
import { allowDynamicBackends } from "fastly:experimental";
import { env } from "fastly:env";

allowDynamicBackends(true);

const json = (value, status = 200) =>
  new Response(JSON.stringify(value), { status, headers: { "content-type": "application/json" } });

function helloWorldStream() {
  const bytes = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      controller.enqueue(bytes.encode("hello"));
      controller.enqueue(bytes.encode(" world"));
      controller.close();
    },
  });
}

async function handle(event) {
  const req = event.request;
  const url = new URL(req.url);
  const q = url.searchParams;
  switch (url.pathname) {
    case "/hello":
      return new Response("hello\n");
    case "/env": {
      const names = ["FASTLY_CACHE_GENERATION", "FASTLY_CUSTOMER_ID", "FASTLY_HOSTNAME",
        "FASTLY_IS_STAGING", "FASTLY_POP", "FASTLY_REGION", "FASTLY_SERVICE_ID",
        "FASTLY_SERVICE_VERSION", "FASTLY_TRACE_ID"];
      return json(Object.fromEntries(names.map((n) => [n, env(n)])));
    }
    case "/health": {
      const out = {};
      for (const name of (q.get("backends") || "").split(",")) {
        out[name] = Backend.fromName(name).health();
      }
      return json(out);
    }
    case "/tls": {
      const c = event.client;
      return json({
        protocol: c.tlsProtocol,
        cipher: c.tlsCipherOpensslName,
        ja3: c.tlsJA3MD5,
        ja4: c.tlsJA4,
        forwardedHeader: req.headers.get("x-tls-protocol"),
      });
    }
    case "/framing": {
      // A streamed body of 11 bytes, announced with the program's own
      // Content-Length: kept only when the program asks for manual framing.
      const manual = q.get("manual") === "1";
      return new Response(helloWorldStream(), {
        headers: { "content-length": "11" },
        manualFramingHeaders: manual,
      });
    }
    case "/framing-backend": {
      const manual = q.get("manual") === "1";
      const upstream = new Request("http://origin.example/framing", {
        method: "POST",
        headers: { "content-length": "11" },
        body: helloWorldStream(),
        manualFramingHeaders: manual,
      });
      const resp = await fetch(upstream, { backend: "origin" });
      return new Response(await resp.text());
    }
    case "/request":
      return json({
        method: req.method,
        url: req.url,
        headers: Object.fromEntries(req.headers.entries()),
        body: await req.text(),
        client: event.client.address,
      });
    case "/status":
      return new Response("custom status\n", {
        status: Number(q.get("code") || 200),
        headers: [["x-multi", "one"], ["x-multi", "two"], ["x-anywhere-test", "yes"]],
      });
    case "/backend": {
      const upstream = new Request(`http://origin.example${q.get("path") || "/"}`, {
        method: req.method,
        headers: { "x-from-guest": "1" },
        body: req.method === "POST" ? await req.text() : undefined,
      });
      const resp = await fetch(upstream, { backend: "origin" });
      return json({
        status: resp.status,
        ip: resp.ip,
        port: resp.port,
        headers: Object.fromEntries(resp.headers.entries()),
        body: await resp.text(),
      });
    }
    case "/gzip": {
      const resp = await fetch("http://origin.example/gzip", { backend: "origin", fastly: { decompressGzip: true } });
      return json({ encoding: resp.headers.get("content-encoding"), body: await resp.text() });
    }
    case "/backend-parallel": {
      const paths = ["/a", "/b", "/c"];
      const bodies = await Promise.all(
        paths.map((p) => fetch(`http://origin.example${p}`, { backend: "origin" }).then((r) => r.text())),
      );
      return json(bodies);
    }
    case "/backend-missing": {
      try {
        await fetch("http://nowhere.example/", { backend: "no-such-backend" });
        return new Response("sent\n");
      } catch (e) {
        return new Response(`error: ${e.message}\n`, { status: 502 });
      }
    }
    case "/dynamic": {
      const backend = new Backend({ name: "dyn-" + q.get("port"), target: `127.0.0.1:${q.get("port")}` });
      const resp = await fetch(`http://127.0.0.1:${q.get("port")}/dynamic`, { backend });
      return json({ status: resp.status, body: await resp.text(), exists: Backend.exists(backend.name) });
    }
    case "/backend-info": {
      const b = Backend.fromName("origin");
      return json({ exists: Backend.exists("origin"), missing: Backend.exists("nope"), target: b.target, hostOverride: b.hostOverride, port: b.port, ssl: b.isSSL, health: b.health() });
    }
    case "/stream": {
      const n = Number(q.get("n") || 3);
      const enc = new TextEncoder();
      let i = 0;
      const stream = new ReadableStream({
        pull(controller) {
          if (i < n) controller.enqueue(enc.encode(`chunk ${i++}\n`));
          else controller.close();
        },
      });
      return new Response(stream);
    }
    case "/config": {
      const store = new ConfigStore("settings");
      const dict = new Dictionary("legacy");
      return json({ greeting: store.get("greeting"), missing: store.get("nope"), legacy: dict.get("key") });
    }
    case "/kv": {
      const store = new KVStore("store");
      const key = q.get("key");
      if (req.method === "PUT") {
        await store.put(key, await req.text(), { metadata: q.get("meta") || undefined, mode: q.get("mode") || "overwrite" });
        return new Response("stored\n");
      }
      if (req.method === "DELETE") {
        await store.delete(key);
        return new Response("deleted\n");
      }
      if (q.get("list") !== null) {
        const page = await store.list({ prefix: q.get("prefix") || undefined, limit: Number(q.get("limit") || 100), cursor: q.get("cursor") || undefined });
        return json(page);
      }
      const entry = await store.get(key);
      if (entry === null) return new Response("not found\n", { status: 404 });
      const meta = entry.metadataText();
      return json({ value: await entry.text(), metadata: meta });
    }
    case "/secret": {
      const store = new SecretStore("secrets");
      const entry = await store.get(q.get("name"));
      return json({ value: entry ? entry.plaintext() : null });
    }
    case "/log": {
      new Logger("access").log(`log line ${q.get("m")}`);
      console.log(`console line ${q.get("m")}`);
      return new Response("logged\n");
    }
    case "/geo":
      return json(getGeolocationForIpAddress(q.get("ip") || "127.0.0.1"));
    case "/device": {
      const d = Device.lookup(q.get("ua") || "");
      return json(d ? { name: d.name, isMobile: d.isMobile } : null);
    }
    case "/acl": {
      const result = await Acl.open("blocklist").lookup(q.get("ip"));
      return json(result);
    }
    case "/erl": {
      const limiter = new EdgeRateLimiter(new RateCounter("rc"), new PenaltyBox("pb"));
      const blocked = limiter.checkRate(q.get("who") || "me", 1, 1, Number(q.get("limit") || 1000), 1);
      return json({ blocked, count: new RateCounter("rc").lookupCount(q.get("who") || "me", 10) });
    }
    case "/erl-rate": {
      // Counts `n` for `who`, then reads the rate back; boxes `who` and
      // asks the penalty box before and after.
      const who = q.get("who") || "me";
      const rc = new RateCounter("rc-rate");
      rc.increment(who, Number(q.get("n") || 5));
      const pb = new PenaltyBox("pb-rate");
      const before = pb.has(who);
      pb.add(who, 1);
      return json({ rate: rc.lookupRate(who, 1), count: rc.lookupCount(who, 10), before, after: pb.has(who) });
    }
    case "/cpu-spin": {
      // Spins until the platform's vCPU clock has moved `ms`: a clock that
      // stood still would spin into the CPU limit.
      const want = Number(q.get("ms") || 5);
      const before = vCpuTime();
      let after = before;
      let x = 0;
      while (after - before < want) {
        for (let i = 0; i < 10000; i++) x += i;
        after = vCpuTime();
      }
      return json({ before, after, x });
    }
    case "/cpu": {
      let x = 0;
      for (let i = 0; i < Number(q.get("n") || 1000); i++) x += i;
      return json({ vcpu: vCpuTime(), x });
    }
    case "/sleep":
      await new Promise((resolve) => setTimeout(resolve, Number(q.get("ms") || 5000)));
      return new Response("woke up\n");
    case "/loop":
      for (;;) {}
    case "/oom": {
      // 8 MiB at a time, without touching it: the heap limit comes long
      // before the CPU limit.
      const hog = [];
      for (;;) hog.push(new ArrayBuffer(8 << 20));
    }
    case "/recurse": {
      const deep = (n) => deep(n + 1) + 1;
      return new Response(String(deep(0)));
    }
    case "/throw":
      throw new Error("thrown on purpose");
    default:
      return new Response("no such route\n", { status: 404 });
  }
}

addEventListener("fetch", (event) => event.respondWith(handle(event)));
