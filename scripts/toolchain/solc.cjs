#!/usr/bin/env node
// A native-solc-compatible command line over solc-js (the npm `solc` package).
//
// py-solc-x, ape-solidity and crytic-compile/Slither expect a native `solc` executable,
// which cannot be downloaded on these machines. This front-end answers the subset they use:
//   solc --version
//   solc --standard-json [--base-path P] [--include-path P]... [--allow-paths P,...]
//   solc --combined-json KEYS [--optimize] [--optimize-runs N] [--evm-version V]
//        [--via-ir] [--base-path P] [--include-path P]... [remapping=target]... FILES...
//
// Two traps of Node shape the I/O: stdin is read as a stream (a synchronous read of a pipe
// can fail with EAGAIN), and we never call process.exit() after writing (it cuts stdout at
// 64 KiB); we set process.exitCode and let the event loop drain instead.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const solc = require('solc');

const NATIVE_VERSION = solc.version().replace(/\.Emscripten\.clang$/, '.Linux.g++');

function parseArgs(argv) {
  const opts = { includePaths: [], remappings: [], files: [], flags: new Set() };
  const valued = new Set([
    '--base-path', '--include-path', '--allow-paths', '--combined-json',
    '--optimize-runs', '--evm-version', '--output-dir', '--pretty-json',
  ]);
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (valued.has(arg) && arg !== '--pretty-json') {
      const value = argv[i + 1];
      i += 1;
      if (arg === '--include-path') opts.includePaths.push(value);
      else opts[arg.slice(2)] = value;
    } else if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      if (eq > 0) opts[arg.slice(2, eq)] = arg.slice(eq + 1);
      else opts.flags.add(arg);
    } else if (arg.includes('=')) {
      opts.remappings.push(arg);
    } else if (arg !== '-') {
      opts.files.push(arg);
    }
  }
  return opts;
}

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (chunk) => chunks.push(chunk));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

function writeStdout(text) {
  return new Promise((resolve) => {
    if (process.stdout.write(text)) resolve();
    else process.stdout.once('drain', resolve);
  });
}

// Resolve an import the way native solc does: base path first, then include paths.
function makeImportCallback(opts) {
  const roots = [opts['base-path'] || process.cwd(), ...opts.includePaths, process.cwd()];
  return (importPath) => {
    for (const root of roots) {
      const candidate = path.resolve(root, importPath);
      if (fs.existsSync(candidate)) {
        return { contents: fs.readFileSync(candidate, 'utf8') };
      }
    }
    if (path.isAbsolute(importPath) && fs.existsSync(importPath)) {
      return { contents: fs.readFileSync(importPath, 'utf8') };
    }
    return { error: `File not found: ${importPath}` };
  };
}

function compileStandard(inputText, opts) {
  return solc.compile(inputText, { import: makeImportCallback(opts) });
}

const COMBINED_SELECTIONS = {
  abi: ['abi'],
  bin: ['evm.bytecode.object'],
  'bin-runtime': ['evm.deployedBytecode.object'],
  srcmap: ['evm.bytecode.sourceMap'],
  'srcmap-runtime': ['evm.deployedBytecode.sourceMap'],
  userdoc: ['userdoc'],
  devdoc: ['devdoc'],
  hashes: ['evm.methodIdentifiers'],
  metadata: ['metadata'],
  'storage-layout': ['storageLayout'],
  opcodes: ['evm.bytecode.opcodes'],
  asm: ['evm.legacyAssembly'],
};

function combinedJson(opts) {
  const keys = opts['combined-json'].split(',').filter((k) => k && k !== 'compact-format');
  const outputs = new Set();
  for (const key of keys) (COMBINED_SELECTIONS[key] || []).forEach((sel) => outputs.add(sel));
  const sources = {};
  for (const file of opts.files) {
    sources[file] = { content: fs.readFileSync(file, 'utf8') };
  }
  const settings = {
    remappings: opts.remappings,
    optimizer: {
      enabled: opts.flags.has('--optimize'),
      runs: Number(opts['optimize-runs'] || 200),
    },
    outputSelection: { '*': { '*': [...outputs], '': keys.includes('ast') ? ['ast'] : [] } },
  };
  if (opts['evm-version']) settings.evmVersion = opts['evm-version'];
  if (opts.flags.has('--via-ir')) settings.viaIR = true;
  const output = JSON.parse(
    compileStandard(JSON.stringify({ language: 'Solidity', sources, settings }), opts),
  );
  const errors = (output.errors || []).filter((e) => e.severity === 'error');
  for (const diagnostic of output.errors || []) {
    process.stderr.write(`${diagnostic.formattedMessage || diagnostic.message}\n`);
  }
  if (errors.length) return { code: 1, text: '' };

  const result = { contracts: {}, sourceList: [], sources: {}, version: NATIVE_VERSION };
  const sourceNames = Object.keys(output.sources || {}).sort(
    (a, b) => output.sources[a].id - output.sources[b].id,
  );
  result.sourceList = sourceNames;
  for (const name of sourceNames) {
    result.sources[name] = keys.includes('ast') ? { AST: output.sources[name].ast } : {};
  }
  for (const [file, contracts] of Object.entries(output.contracts || {})) {
    for (const [name, c] of Object.entries(contracts)) {
      const entry = {};
      const evm = c.evm || {};
      if (keys.includes('abi')) entry.abi = c.abi;
      if (keys.includes('bin')) entry.bin = evm.bytecode?.object ?? '';
      if (keys.includes('bin-runtime')) entry['bin-runtime'] = evm.deployedBytecode?.object ?? '';
      if (keys.includes('srcmap')) entry.srcmap = evm.bytecode?.sourceMap ?? '';
      if (keys.includes('srcmap-runtime')) {
        entry['srcmap-runtime'] = evm.deployedBytecode?.sourceMap ?? '';
      }
      if (keys.includes('userdoc')) entry.userdoc = c.userdoc;
      if (keys.includes('devdoc')) entry.devdoc = c.devdoc;
      if (keys.includes('hashes')) entry.hashes = evm.methodIdentifiers;
      if (keys.includes('metadata')) entry.metadata = c.metadata;
      if (keys.includes('storage-layout')) entry['storage-layout'] = c.storageLayout;
      if (keys.includes('opcodes')) entry.opcodes = evm.bytecode?.opcodes ?? '';
      result.contracts[`${file}:${name}`] = entry;
    }
  }
  return { code: 0, text: `${JSON.stringify(result)}\n` };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.flags.has('--version')) {
    await writeStdout(`solc, the solidity compiler commandline interface\nVersion: ${NATIVE_VERSION}\n`);
    return 0;
  }
  if (opts.flags.has('--standard-json')) {
    const input = opts.files.length ? fs.readFileSync(opts.files[0], 'utf8') : await readStdin();
    await writeStdout(`${compileStandard(input, opts)}\n`);
    return 0;
  }
  if (opts['combined-json']) {
    const { code, text } = combinedJson(opts);
    if (text) await writeStdout(text);
    return code;
  }
  process.stderr.write('solc-js front-end: supported modes are --version, --standard-json, --combined-json\n');
  return 1;
}

main().then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`${err.stack || err}\n`); process.exitCode = 1; },
);
