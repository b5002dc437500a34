// The join's proof-of-work (docs/api.md): find a decimal nonce such that
// SHA-256(token + ":" + nonce) starts with `bits` zero bits. It runs as a
// Web Worker (postMessage {token, bits} → {nonce}); loaded as a page script
// it offers the same search as window.cgPow.solve, in slices, for browsers
// without workers. SHA-256 is written out here: crypto.subtle costs a
// promise per hash, a hundred times too slow. The blocks of the token that
// never change are hashed once; each nonce costs one or two compressions.
(function (scope) {
  'use strict';

  var K = new Int32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
  ]);
  var W = new Int32Array(64);

  // compress runs one 64-byte block (words at W[0..15]) on state h into out.
  function compress(h, out) {
    var i, x, y;
    for (i = 16; i < 64; i++) {
      x = W[i - 15]; y = W[i - 2];
      W[i] = (W[i - 16] + (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)) +
        W[i - 7] + (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10))) | 0;
    }
    var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7], t1, t2;
    for (i = 0; i < 64; i++) {
      t1 = (k + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) +
        ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
      t2 = ((((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) +
        ((a & b) ^ (a & c) ^ (b & c))) | 0;
      k = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    out[0] = (h[0] + a) | 0; out[1] = (h[1] + b) | 0; out[2] = (h[2] + c) | 0; out[3] = (h[3] + d) | 0;
    out[4] = (h[4] + e) | 0; out[5] = (h[5] + f) | 0; out[6] = (h[6] + g) | 0; out[7] = (h[7] + k) | 0;
  }

  function load(bytes, off) {
    for (var i = 0; i < 16; i++) {
      var j = off + 4 * i;
      W[i] = (bytes[j] << 24) | (bytes[j + 1] << 16) | (bytes[j + 2] << 8) | bytes[j + 3];
    }
  }

  // Searcher prepares the search for one challenge: the state after the
  // token's whole blocks, and the bytes left over for the tail.
  function Searcher(token, bits) {
    var p = token + ':';
    var full = Math.floor(p.length / 64) * 64;
    var bytes = new Uint8Array(full);
    for (var i = 0; i < full; i++) bytes[i] = p.charCodeAt(i);
    var mid = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
    for (i = 0; i < full; i += 64) { load(bytes, i); compress(mid, mid); }
    this.mid = mid;
    this.rest = p.length - full;
    this.total = p.length;
    this.tail = new Uint8Array(128);
    for (i = full; i < p.length; i++) this.tail[i - full] = p.charCodeAt(i);
    this.bits = bits;
    this.out = new Int32Array(8);
  }

  // zeros reports whether nonce n solves the challenge.
  Searcher.prototype.solves = function (n) {
    var s = String(n), t = this.tail, r = this.rest, len = r + s.length, i;
    for (i = 0; i < s.length; i++) t[r + i] = s.charCodeAt(i);
    t[len] = 0x80;
    var blocks = len + 9 <= 64 ? 1 : 2, end = blocks * 64;
    for (i = len + 1; i < end - 4; i++) t[i] = 0;
    var bitLen = (this.total + s.length) * 8;
    t[end - 4] = bitLen >>> 24; t[end - 3] = (bitLen >>> 16) & 255; t[end - 2] = (bitLen >>> 8) & 255; t[end - 1] = bitLen & 255;
    load(t, 0);
    compress(this.mid, this.out);
    if (blocks === 2) { load(t, 64); compress(this.out, this.out); }
    return this.bits >= 32 ? this.out[0] === 0 : (this.out[0] >>> (32 - this.bits)) === 0;
  };

  // search tries count nonces from start; the solving nonce, or -1.
  Searcher.prototype.search = function (start, count) {
    for (var n = start; n < start + count; n++) if (this.solves(n)) return n;
    return -1;
  };

  if (typeof scope.document === 'undefined' && typeof scope.postMessage === 'function') {
    // A worker: search until found.
    scope.onmessage = function (m) {
      var sr = new Searcher(m.data.token, m.data.bits), n = 0, step = 1 << 16, found;
      while ((found = sr.search(n, step)) < 0) n += step;
      scope.postMessage({ nonce: String(found) });
    };
  } else {
    // A page: slices of sliceSize nonces between which the page stays alive.
    scope.cgPow = {
      Searcher: Searcher,
      solve: function (token, bits, done) {
        var sr = new Searcher(token, bits), n = 0, slice = 20000;
        (function step() {
          var found = sr.search(n, slice);
          if (found >= 0) { done(String(found)); return; }
          n += slice;
          setTimeout(step, 0);
        })();
      }
    };
  }
})(self);
