// Writes N random EIP-712 documents (every atomic type, arrays, nested structs) into DIR, for
// comparing our signatures with an independent implementation's. Deterministic for a seed.
// usage: node gen_typed_data.js DIR N SEED
'use strict';
const fs = require('fs');
const path = require('path');

const [dir, count, seedArg] = process.argv.slice(2);
let seed = BigInt(seedArg || 1);
function rnd(n) {  // xorshift64*, uniform enough for test data
  seed ^= seed << 13n; seed &= (1n << 64n) - 1n;
  seed ^= seed >> 7n;
  seed ^= seed << 17n; seed &= (1n << 64n) - 1n;
  return Number(seed % BigInt(n));
}
function hex(bytes) {
  let s = '0x';
  for (let i = 0; i < bytes; i++) s += rnd(256).toString(16).padStart(2, '0');
  return s;
}
function bigHex(bits) {
  let v = 0n;
  for (let i = 0; i < bits; i += 8) v = (v << 8n) | BigInt(rnd(256));
  return v;
}
const atoms = ['bool', 'address', 'string', 'bytes', 'bytes1', 'bytes7', 'bytes32', 'uint8',
  'uint64', 'uint256', 'int8', 'int24', 'int128', 'int256'];
function atomValue(t) {
  if (t === 'bool') return rnd(2) === 1;
  if (t === 'address') return hex(20);
  if (t === 'string') return ['', 'IPSX', 'déjà vu', '日本', 'a"b\\c'][rnd(5)];
  if (t === 'bytes') return hex(rnd(40));
  if (t.startsWith('bytes')) return hex(Number(t.slice(5)));
  const bits = Number(t.replace(/^u?int/, ''));
  if (t.startsWith('uint')) {
    const v = bigHex(bits);
    return rnd(3) === 0 ? '0x' + v.toString(16) : rnd(2) === 0 || bits > 52 ? v.toString() : Number(v % 1000n);
  }
  const half = 1n << BigInt(bits - 1);
  const v = (bigHex(bits) % (2n * half)) - half;  // in [-2^(bits-1), 2^(bits-1))
  const edge = [-half, half - 1n, -1n, 0n][rnd(6)];
  const chosen = edge === undefined ? v : edge;
  return bits <= 32 && rnd(2) === 0 ? Number(chosen) : chosen.toString();
}
function makeDoc(i) {
  const types = {
    EIP712Domain: [
      { name: 'name', type: 'string' }, { name: 'version', type: 'string' },
      { name: 'chainId', type: 'uint256' }, { name: 'verifyingContract', type: 'address' }],
  };
  const nStructs = 1 + rnd(3);
  const names = [];
  for (let s = 0; s < nStructs; s++) names.push('S' + s);
  // Struct Sk may refer only to S(k+1).. so there are no cycles.
  names.forEach((name, k) => {
    const fields = [];
    const nf = 1 + rnd(6);
    for (let f = 0; f < nf; f++) {
      let t = atoms[rnd(atoms.length)];
      if (k + 1 < names.length && rnd(3) === 0) t = names[k + 1 + rnd(names.length - k - 1)];
      const arr = rnd(5);
      if (arr === 0) t += '[]';
      else if (arr === 1) t += '[' + (1 + rnd(3)) + ']';
      fields.push({ name: 'f' + f, type: t });
    }
    types[name] = fields;
  });
  function value(t) {
    const m = t.match(/^(.*)\[(\d*)\]$/);
    if (m) {
      const len = m[2] === '' ? rnd(4) : Number(m[2]);
      return Array.from({ length: len }, () => value(m[1]));
    }
    if (types[t]) {
      const o = {};
      for (const f of types[t]) o[f.name] = value(f.type);
      return o;
    }
    return atomValue(t);
  }
  return {
    types, primaryType: 'S0',
    domain: { name: 'IPSX test ' + i, version: String(rnd(9)), chainId: 1 + rnd(100000), verifyingContract: hex(20) },
    message: value('S0'),
  };
}
fs.mkdirSync(dir, { recursive: true });
for (let i = 0; i < Number(count); i++) {
  fs.writeFileSync(path.join(dir, `doc${i}.json`), JSON.stringify(makeDoc(i), null, 1));
}
