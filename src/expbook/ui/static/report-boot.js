// expbook report: the data and Plotly.js are embedded compressed (raw DEFLATE), as text of 7
// bits a character (report.py's pack7: 8 characters hold 7 bytes; the three characters HTML
// would change inside a <script> -- NUL, CR and "<" -- are sent as U+0100 + the value).
// This runs first: it fills #expbook-data synchronously (a small inflate below), then runs
// the dashboard's scripts (app.js reads the report's data as before). Plotly is inflated only for the first chart
// (DecompressionStream, native), through EBZ.textAsync.
"use strict";
(function () {
  function unpack7(s, n) {
    const out = new Uint8Array(n);
    let acc = 0, bits = 0, o = 0;
    for (let i = 0; i < s.length && o < n; i++) {
      acc = ((acc << 7) | (s.charCodeAt(i) & 127)) & 0x7fff;
      bits += 7;
      if (bits >= 8) { bits -= 8; out[o++] = (acc >> bits) & 255; }
    }
    return out;
  }
  // RFC 1951 inflate after zlib's puff.c: small, synchronous, enough for the report's data
  const LBASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
  const LEXT = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
  const DBASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
  const DEXT = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
  const ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];
  function inflate(src, size) {
    const out = new Uint8Array(size);
    let pos = 0, buf = 0, cnt = 0, op = 0;
    const bits = (n) => {
      while (cnt < n) { buf |= (src[pos++] | 0) << cnt; cnt += 8; }
      const v = buf & ((1 << n) - 1);
      buf >>>= n; cnt -= n;
      return v;
    };
    const table = (lengths) => {
      const count = new Uint16Array(16), offs = new Uint16Array(16), sym = new Uint16Array(lengths.length);
      for (const l of lengths) count[l]++;
      count[0] = 0;
      for (let i = 1; i < 16; i++) offs[i] = offs[i - 1] + count[i - 1];
      lengths.forEach((l, i) => { if (l) sym[offs[l]++] = i; });
      return { count, sym };
    };
    const decode = (t) => {
      let code = 0, first = 0, index = 0;
      for (let len = 1; len < 16; len++) {
        code |= bits(1);
        const c = t.count[len];
        if (code - c < first) return t.sym[index + (code - first)];
        index += c; first = (first + c) << 1; code <<= 1;
      }
      throw new Error("report data: bad compressed data");
    };
    const fixedL = table(Array.from({ length: 288 }, (_, i) => (i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8)));
    const fixedD = table(new Array(30).fill(5));
    let last = 0;
    while (!last) {
      last = bits(1);
      const type = bits(2);
      if (type === 0) {
        buf = 0; cnt = 0;
        const len = src[pos] | (src[pos + 1] << 8);
        pos += 4;
        out.set(src.subarray(pos, pos + len), op);
        pos += len; op += len;
        continue;
      }
      let lt = fixedL, dt = fixedD;
      if (type === 2) {
        const nlen = bits(5) + 257, ndist = bits(5) + 1, ncode = bits(4) + 4;
        const cl = new Array(19).fill(0);
        for (let i = 0; i < ncode; i++) cl[ORDER[i]] = bits(3);
        const ct = table(cl), lens = [];
        while (lens.length < nlen + ndist) {
          const sym = decode(ct);
          if (sym < 16) lens.push(sym);
          else {
            const [n, v] = sym === 16 ? [3 + bits(2), lens[lens.length - 1]] : sym === 17 ? [3 + bits(3), 0] : [11 + bits(7), 0];
            for (let i = 0; i < n; i++) lens.push(v);
          }
        }
        lt = table(lens.slice(0, nlen)); dt = table(lens.slice(nlen));
      } else if (type !== 1) throw new Error("report data: bad block type");
      for (;;) {
        const sym = decode(lt);
        if (sym < 256) out[op++] = sym;
        else if (sym === 256) break;
        else {
          const len = LBASE[sym - 257] + bits(LEXT[sym - 257]);
          const d = decode(dt), dist = DBASE[d] + bits(DEXT[d]);
          for (let i = 0; i < len; i++, op++) out[op] = out[op - dist];
        }
      }
    }
    return out;
  }
  function packed(id) {
    const el = document.getElementById(id);
    if (!el) throw new Error("the report has no embedded " + id);
    return [unpack7(el.textContent, +el.dataset.packed), +el.dataset.size];
  }
  const utf8 = (bytes) => new TextDecoder("utf-8").decode(bytes);
  window.EBZ = {
    text: (id) => utf8(inflate(...packed(id))),
    async textAsync(id) {
      const [bytes, size] = packed(id);
      if (typeof DecompressionStream === "undefined") return utf8(inflate(bytes, size));
      const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
      return new Response(stream).text();
    },
  };
  const data = document.getElementById("expbook-data");
  if (data && document.getElementById("expbook-z-data")) data.textContent = window.EBZ.text("expbook-z-data");
  // app.js, plots.js, charts.js...: inline scripts run as they are inserted, in this order,
  // before DOMContentLoaded (as the <script> elements of the live page would)
  if (document.getElementById("expbook-z-js")) {
    for (const source of JSON.parse(window.EBZ.text("expbook-z-js"))) {
      const el = document.createElement("script");
      el.textContent = source;
      document.body.append(el);
    }
  }
})();
