/// <reference types="@fastly/js-compute" />
// A handler that computes rather than waits: builds 2,000 records, turns
// them into JSON and back, hashes the text (FNV-1a, in JavaScript) and sorts
// the records. The benchmarks use it to measure the JS engine itself, where
// ahead-of-time compilation should pay.
addEventListener("fetch", (event) => event.respondWith(handle(event.request)));

function handle(request) {
  const seed = new URL(request.url).searchParams.get("seed") || "1";
  const records = [];
  let x = Number(seed) >>> 0 || 1;
  for (let i = 0; i < 2000; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    records.push({ id: i, score: x % 100000, name: `item-${x.toString(36)}`, tags: ["a", "b", i % 7] });
  }
  const text = JSON.stringify(records);
  const back = JSON.parse(text);
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  }
  back.sort((a, b) => a.score - b.score || a.id - b.id);
  const body = `records ${back.length} bytes ${text.length} fnv ${hash.toString(16)} first ${back[0].id} last ${back[back.length - 1].id}\n`;
  return new Response(body, { headers: { "content-type": "text/plain" } });
}
