#!/usr/bin/env node
// Compiles the IPSX contracts with the pinned solc-js (package.json) and writes, for each
// contract defined in contracts/*.sol, <outdir>/<Contract>.json = {contractName, abi, bytecode,
// deployedBytecode, compiler, settings} (bytecodes as 0x-hex), plus <outdir>/ledger-errors.json:
// each custom error's 4-byte selector -> its name and its LedgerErrc code
// (src/ledger/ledger_error.h), for clients that decode reverts.
//
// usage: node contracts/build.js <outdir>
// Fails (exit 1, message on stderr) on any compiler error, and on any warning in our own sources.
// Works offline: solc-js is bundled, OpenZeppelin is read from node_modules.
'use strict';

const fs = require('fs');
const path = require('path');

const here = __dirname;
const root = path.resolve(here, '..');

function die(msg) {
  process.stderr.write(`contracts/build.js: ${msg}\n`);
  process.exit(1);
}

const outdir = process.argv[2];
if (!outdir || process.argv.length > 3) die('usage: node contracts/build.js <outdir>');

let solc;
try {
  solc = require(require.resolve('solc', { paths: [root] }));
} catch (e) {
  die(`cannot load solc-js from ${root}/node_modules (run 'npm ci' in ${root}): ${e.message}`);
}
// keccak-256 for the error selectors: js-sha3, the pinned dependency solc-js itself uses.
let keccak256;
try {
  keccak256 = require(require.resolve('js-sha3', { paths: [path.dirname(require.resolve('solc', { paths: [root] }))] })).keccak256;
} catch (e) {
  die(`cannot load js-sha3 (a dependency of solc-js): ${e.message}`);
}

// The LedgerErrc codes, in the order of src/ledger/ledger_error.h (bad_signature = 1).
const LEDGER_ERRC = [
  'bad_signature', 'wrong_chain', 'bad_nonce', 'insufficient_funds', 'transfers_locked',
  'sale_not_open', 'hard_cap_exceeded', 'sale_not_finalizable', 'sale_not_finalized',
  'nothing_to_claim', 'bad_order', 'terms_mismatch', 'order_exhausted', 'unknown_deal',
  'not_a_party', 'deal_state', 'bad_balance_proof', 'challenge_period', 'already_rated',
  'bad_rating', 'overflow', 'invalid_argument', 'storage', 'shutting_down',
  'sale_not_refundable',
];
const pascal = (s) => s.split('_').map((w) => (w === 'a' ? 'A' : w[0].toUpperCase() + w.slice(1))).join('');

const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  viaIR: true, // the orders have 20+ fields: the legacy pipeline runs out of stack slots
  evmVersion: 'cancun', // anvil 1.7.1 runs cancun (and later); mainnet has run it since 2024
  outputSelection: {
    '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object', 'evm.methodIdentifiers'] },
  },
};

const sources = {};
for (const f of fs.readdirSync(here).filter((f) => f.endsWith('.sol')).sort()) {
  sources[f] = { content: fs.readFileSync(path.join(here, f), 'utf8') };
}
if (Object.keys(sources).length === 0) die(`no .sol files in ${here}`);

// Imports: relative ones are resolved by solc against the importing unit's name (all ours sit at
// the top level); package imports ("@openzeppelin/...") come from node_modules.
function findImports(name) {
  const candidates = [path.join(here, name), path.join(root, 'node_modules', name)];
  for (const c of candidates) {
    if (fs.existsSync(c)) return { contents: fs.readFileSync(c, 'utf8') };
  }
  return { error: `import not found: ${name} (looked in contracts/ and node_modules/)` };
}

const input = { language: 'Solidity', sources, settings: SETTINGS };
const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));

const ours = new Set(Object.keys(sources));
const problems = [];
for (const e of output.errors || []) {
  const file = e.sourceLocation ? e.sourceLocation.file : '';
  const text = (e.formattedMessage || e.message).trim();
  if (e.severity === 'error') {
    problems.push(text);
  } else if (e.severity === 'warning' && (ours.has(file) || !file)) {
    problems.push(text);
  } else {
    process.stderr.write(`contracts/build.js: note (${file || 'compiler'}): ${e.message}\n`);
  }
}
if (problems.length) die(`compilation failed (solc ${solc.version()}):\n${problems.join('\n\n')}`);

fs.mkdirSync(outdir, { recursive: true });
const written = [];
const errorSigs = new Map(); // signature -> name
for (const file of Object.keys(sources)) {
  for (const [name, c] of Object.entries(output.contracts[file] || {})) {
    const bytecode = c.evm.bytecode.object;
    if (!bytecode) continue; // an interface or abstract contract
    for (const item of c.abi) {
      if (item.type === 'error') {
        errorSigs.set(`${item.name}(${item.inputs.map((i) => i.type).join(',')})`, item.name);
      }
    }
    const artifact = {
      contractName: name,
      sourceName: `contracts/${file}`,
      abi: c.abi,
      bytecode: '0x' + bytecode,
      deployedBytecode: '0x' + c.evm.deployedBytecode.object,
      methodIdentifiers: c.evm.methodIdentifiers,
      compiler: { name: 'solc-js', version: solc.version() },
      settings: { optimizer: SETTINGS.optimizer, viaIR: SETTINGS.viaIR, evmVersion: SETTINGS.evmVersion },
    };
    const dest = path.join(outdir, `${name}.json`);
    fs.writeFileSync(dest + '.tmp', JSON.stringify(artifact, null, 2) + '\n');
    fs.renameSync(dest + '.tmp', dest);
    written.push(`${name} (${(bytecode.length / 2) | 0} bytes creation, ${(c.evm.deployedBytecode.object.length / 2) | 0} runtime)`);
    if (c.evm.deployedBytecode.object.length / 2 > 24576) {
      die(`${name}'s runtime code exceeds the EIP-170 limit of 24576 bytes`);
    }
  }
}

// Every ledger code has an error of the same shape, even those no contract raises.
const selectorOf = (sig) => '0x' + keccak256(sig).slice(0, 8);
const errors = {};
LEDGER_ERRC.forEach((code, i) => {
  const name = pascal(code);
  const sig = `${name}(string)`;
  errors[selectorOf(sig)] = { name, signature: sig, code: i + 1, errc: code };
});
for (const [sig, name] of errorSigs) {
  const sel = selectorOf(sig);
  if (!errors[sel]) errors[sel] = { name, signature: sig, code: null, errc: null };
}
fs.writeFileSync(path.join(outdir, 'ledger-errors.json'), JSON.stringify(errors, null, 2) + '\n');

process.stdout.write(`solc ${solc.version()}: wrote ${written.join(', ')} and ledger-errors.json to ${outdir}\n`);
