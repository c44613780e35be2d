#!/usr/bin/env node
/**
 * An independent verifier of a Credance verification answer, written from docs/verification.md
 * alone: it imports nothing of the project, only ethers (ABI encoding, keccak256, JSON-RPC).
 *
 *   node verify.mjs --link https://host/01/<gtin>/21/<serial> --rpc http://node:8545
 *                   --registry 0x<ProvenanceRegistry> [--chain-id N] [--answer saved.json] [--json]
 *
 * The item is the one in --link; the chain is the node at --rpc and the registry pinned by
 * --registry (and --chain-id): nothing of either is taken from the answer. With --answer the saved
 * answer is checked instead of asking the server. Exit code 0: every check passed; 1: a check
 * failed; 2: bad usage, or the chain cannot be pinned.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { AbiCoder, Contract, JsonRpcProvider, concat, getAddress, id, isAddress, keccak256, toBeHex, zeroPadValue } from "ethers";

const ABI = [
  "function isItemRegistered(uint64 gtin, bytes32 commitment, bytes32 root, bytes32[] proof) view returns (bool)",
  "function itemBatches(bytes32 root) view returns (uint64 gtin, uint32 count, uint64 registeredAt, bytes32 manufacturer)",
  "function brandOf(uint64 gtin) view returns (bytes32)",
  "function isEventAnchored(bytes32 eventHash, bytes32 root, bytes32[] proof) view returns (bool)",
  "function eventAnchors(bytes32 root) view returns (bytes32 organisation, uint32 count, uint64 anchoredAt)",
  "function isGtinRecalled(uint64 gtin) view returns (bool)",
  "function recallOfScope(bytes32 brandId, bytes32 scopeRoot) view returns (uint256)",
  "function isItemRecalled(uint64 gtin, bytes32 commitment, bytes32 scopeRoot, bytes32[] proof) view returns (bool)",
  "function recalls(uint256 recallId) view returns (uint64 gtin, uint32 count, uint64 issuedAt, bytes32 brand, bytes32 scopeRoot)",
];
const ITEMS_REGISTERED = id("ItemsRegistered(bytes32,uint64,bytes32,uint32)");
const EVENTS_ANCHORED = id("EventsAnchored(bytes32,bytes32,uint32)");
const CBV = "https://ref.gs1.org/cbv/";
const ZERO = "0x" + "00".repeat(32);
// Keys that may follow a field in the canonical pre-hash string (docs: "Event hash").
const NEXT_KEYS = ["eventTime=", "eventTimeZoneOffset=", "certificationInfo=", "parentID=", "epcList", "inputEPCList",
  "childEPCs", "quantityList", "childQuantityList", "inputQuantityList", "outputEPCList", "outputQuantityList", "action=",
  "transformationID=", "bizStep=", "disposition=", "persistentDisposition", "readPoint", "bizLocation",
  "sensorElementList", "bizTransactionList", "sourceList", "destinationList", "ilmd", "epc=", "{"];
const abi = AbiCoder.defaultAbiCoder();

// ---------------------------------------------------------------- checks
const checks = [];
function check(name, ok, detail = "") {
  checks.push({ check: name, ok: Boolean(ok), detail: String(detail) });
  return Boolean(ok);
}
async function guard(name, work) {
  try {
    await work();
  } catch (error) {
    check(name, false, `could not be checked: ${error?.shortMessage ?? error?.message ?? error}`);
  }
}
class Usage extends Error {}

// ---------------------------------------------------------------- formulas (docs/verification.md)
const isBytes32 = (v) => typeof v === "string" && /^0x[0-9a-fA-F]{64}$/.test(v);
function bytes32(v, what) {
  if (!isBytes32(v)) throw new Error(`${what} ${JSON.stringify(v)} is not a 32-byte hex value`);
  return v.toLowerCase();
}
const commitmentOf = (salt, serial) => keccak256(abi.encode(["bytes32", "string"], [salt, serial]));
const itemLeafOf = (gtin, commitment) => keccak256(keccak256(abi.encode(["uint64", "bytes32"], [BigInt(gtin), commitment])));
const eventLeafOf = (anchored) => keccak256(anchored);
// The item's token in public forms, and what an event's anchor binds (docs: "Events").
const tokenOf = (itemLeaf) => `item:${itemLeaf}`;
const anchoredOf = (cbvCommitment, publicDigest) => keccak256(concat([cbvCommitment, publicDigest]));
const hashPair = (a, b) => (BigInt(a) < BigInt(b) ? keccak256(concat([a, b])) : keccak256(concat([b, a])));
const rootOf = (leaf, proof) => proof.map((n) => bytes32(n, "proof node")).reduce(hashPair, leaf);

function checkDigit(body) {
  let total = 0;
  [...body].reverse().forEach((d, i) => { total += Number(d) * (i % 2 === 0 ? 3 : 1); });
  return (10 - (total % 10)) % 10;
}
function itemOfLink(link) {
  const m = /\/01\/(\d{8}|\d{12,14})\/21\/([^/?#]+)/.exec(link);
  if (!m) throw new Usage(`${link} is not the Digital Link of a serialized item (…/01/<gtin>/21/<serial>)`);
  const gtin = m[1].padStart(14, "0");
  if (Number(gtin[13]) !== checkDigit(gtin.slice(0, 13))) throw new Usage(`GTIN ${m[1]}: wrong check digit`);
  return { gtin, serial: decodeURIComponent(m[2]) };
}

function normaliseTime(value) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/i.exec(String(value).trim());
  if (!m) throw new Error(`eventTime ${JSON.stringify(value)} is not an xsd:dateTime`);
  const [, y, mo, d, h, mi, s, frac = "", zone] = m;
  const f = frac.padEnd(4, "0");
  let ms = Date.UTC(+y, +mo - 1, +d, +h, +mi, +s) + Number(f.slice(0, 3)) + (f[3] >= "5" ? 1 : 0);
  if (zone.toUpperCase() !== "Z") {
    const sign = zone[0] === "+" ? 1 : -1;
    ms -= sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60000;
  }
  return new Date(ms).toISOString();
}
function cbvTerm(vocabulary, value) {
  const urn = `urn:epcglobal:cbv:${vocabulary === "BizStep-" ? "bizstep" : "disp"}:`;
  if (value.startsWith(urn)) return CBV + vocabulary + value.slice(urn.length);
  return value.includes(":") ? value : CBV + vocabulary + value;
}
function shortTerm(vocabulary, value) {
  if (value == null) return null;
  const long = cbvTerm(vocabulary, value);
  return long.startsWith(CBV + vocabulary) ? long.slice((CBV + vocabulary).length) : value;
}
/** Whether `key=value` is a field of the canonical string: present, and followed by its end or the next key. */
function hasField(canonical, fragment) {
  for (let at = canonical.indexOf(fragment); at !== -1; at = canonical.indexOf(fragment, at + 1)) {
    const rest = canonical.slice(at + fragment.length);
    if (rest === "" || NEXT_KEYS.some((key) => rest.startsWith(key))) return true;
  }
  return false;
}
const names = (canonical, key) => hasField(canonical, `epc=${key}`) || hasField(canonical, `parentID=${key}`);

// ---------------------------------------------------------------- the chain
async function checkTransaction(provider, registry, what, claim, topic, indexed) {
  const receipt = await provider.getTransactionReceipt(claim.transaction);
  if (!check(`${what}: transaction succeeded`, receipt && receipt.status === 1, claim.transaction)) return null;
  const inBlock = check(`${what}: in the block claimed`, receipt.blockNumber === claim.block_number,
    `block ${receipt.blockNumber}, claimed ${claim.block_number}`);
  const block = await provider.getBlock(receipt.blockNumber);
  const canonical = check(`${what}: block on this chain`, block.hash === receipt.blockHash, block.hash);
  const wanted = [topic, ...indexed].map((t) => t.toLowerCase());
  const emitted = check(`${what}: event emitted by the pinned registry`, receipt.logs.some((log) =>
    log.address.toLowerCase() === registry.toLowerCase() &&
    wanted.every((t, i) => (log.topics[i] ?? "").toLowerCase() === t)), registry);
  return inBlock && canonical && emitted ? block.timestamp : null;
}

// ---------------------------------------------------------------- the answer
async function verify(answer, item, pinned, provider, registry) {
  check("the answer is about the item asked", answer?.gtin === item.gtin && answer?.serial === item.serial,
    `asked ${item.gtin}/${item.serial}, answered ${answer?.gtin}/${answer?.serial}`);
  const proof = answer?.proof;
  if (!check("proof", proof && typeof proof === "object", proof ? "present" : `none (verdict ${answer?.verdict})`)) return;
  check("the answer's chain id is the pinned chain", proof.chain_id === pinned, `answer ${proof.chain_id}, pinned ${pinned}`);
  check("the answer's contract is the pinned registry", String(proof.contract).toLowerCase() === registry.target.toLowerCase(),
    `answer ${proof.contract}, pinned ${registry.target}`);
  const trail = Array.isArray(answer.trail) ? answer.trail : [];
  const registered = trail.filter((s) => s?.event === "registered");
  check("one registration in the timeline", registered.length === 1, `${registered.length}`);

  let leaf = null;
  let commitment = null;
  let token = null;
  await guard("item", async () => {
    commitment = commitmentOf(bytes32(proof.salt, "salt"), item.serial);
    check("commitment of the serial asked", bytes32(proof.commitment, "commitment") === commitment, commitment);
    leaf = itemLeafOf(item.gtin, commitment);
    token = tokenOf(leaf);
    const root = bytes32(proof.root, "root");
    check("item Merkle proof (local)", rootOf(leaf, proof.merkle_proof) === root, root);
    check("isItemRegistered", await registry.isItemRegistered(BigInt(item.gtin), commitment, root, proof.merkle_proof), item.gtin);
    const batch = await registry.itemBatches(root);
    check("batch is of the GTIN asked", batch.gtin === BigInt(item.gtin), `${batch.gtin}`);
    const maker = registered[0]?.organisation?.chain_id;
    check("manufacturer shown is the batch's", String(maker).toLowerCase() === batch.manufacturer, batch.manufacturer);
    const brand = await registry.brandOf(BigInt(item.gtin));
    check("brand shown owns the GTIN", String(answer.product?.brand?.chain_id).toLowerCase() === brand, brand);
    const time = await checkTransaction(provider, registry.target, "registration", proof, ITEMS_REGISTERED,
      [root, zeroPadValue(toBeHex(BigInt(item.gtin)), 32), batch.manufacturer]);
    const step = registered[0];
    check("registration step matches the chain", time !== null && step?.time === time &&
      step?.transaction === proof.transaction && step?.block_number === proof.block_number, `block time ${time}`);
  });

  const anchors = new Map();
  for (const anchor of Array.isArray(proof.events) ? proof.events : []) anchors.set(String(anchor?.anchored).toLowerCase(), anchor);
  const shown = new Set();
  const events = trail.map((step, i) => [`event ${i + 1} (${step?.event})`, step])
    .filter(([, s]) => !(["registered", "recalled"].includes(s?.event) && !("body" in s) && !("event_type" in s)));
  for (const [label, step] of events) {
    await guard(label, async () => {
      const { body, public_form: canonical } = step;
      if (!body || typeof body !== "object" || typeof canonical !== "string") throw new Error("no event body or public form");
      if (token === null) throw new Error("the item's token cannot be computed (no valid salt)");
      const digest = "0x" + createHash("sha256").update(canonical, "utf8").digest("hex");
      check(`${label}: hash of its public form`, String(step.public_hash).toLowerCase() === digest, digest);
      // The public form names every serialized item by its token: a Digital Link with a serial is a leak.
      check(`${label}: no serial in its public form`, !/\/01\/\d{14}\/21\//.test(canonical), "tokens only");
      const anchored = anchoredOf(bytes32(step.cbv_commitment, "cbv_commitment"), digest);
      // The fields the timeline shows: in the body, and in the hashed string.
      const time = normaliseTime(body.eventTime);
      const fields = [
        ["type", canonical.startsWith(`eventType=${body.type}`) && step.event_type === body.type],
        ["time", hasField(canonical, `eventTime=${time}`) && step.time === Math.floor(Date.parse(time) / 1000)],
        ["action", body.action == null ? step.action == null : hasField(canonical, `action=${body.action}`) && step.action === body.action],
        ["step", (body.bizStep == null ? step.event === body.type
          : hasField(canonical, `bizStep=${cbvTerm("BizStep-", body.bizStep)}`) && step.event === shortTerm("BizStep-", body.bizStep))],
        ["disposition", body.disposition == null ? step.disposition == null
          : hasField(canonical, `disposition=${cbvTerm("Disp-", body.disposition)}`) && step.disposition === shortTerm("Disp-", body.disposition)],
        ["location", step.location == null || hasField(canonical, `bizLocationid=${step.location}`) || hasField(canonical, `readPointid=${step.location}`)],
      ];
      const wrong = fields.filter(([, ok]) => !ok).map(([name]) => name);
      check(`${label}: shown as its body and hash say`, wrong.length === 0, wrong.join(", ") || step.event);
      const subject = step.container ?? token;
      check(`${label}: names ${step.container ? "its container" : "the item asked"}`, names(canonical, subject), subject);
      check(`${label}: shown once`, !shown.has(anchored), anchored);
      shown.add(anchored);
      const anchor = anchors.get(anchored);
      if (!check(`${label}: anchored`, anchor, anchor ? "proof present" : "no anchor proof")) return;
      const root = bytes32(anchor.root, "root");
      check(`${label}: Merkle proof (local)`, rootOf(eventLeafOf(anchored), anchor.merkle_proof) === root, root);
      check(`${label}: isEventAnchored`, await registry.isEventAnchored(anchored, root, anchor.merkle_proof), anchored);
      const [writer] = await registry.eventAnchors(root);
      check(`${label}: anchored by the organisation shown`, String(step.organisation?.chain_id).toLowerCase() === writer, writer);
      await checkTransaction(provider, registry.target, `${label} anchor`, anchor, EVENTS_ANCHORED, [root, writer]);
      check(`${label}: timeline shows its anchor`, step.transaction === anchor.transaction && step.block_number === anchor.block_number, anchor.transaction);
    });
  }
  for (const anchored of anchors.keys()) if (!shown.has(anchored)) check("every anchored event is shown", false, anchored);
  // A container's events count only if shown packing events put the item into it.
  const packings = events.map(([, s]) => s).filter((s) => ["AggregationEvent", "AssociationEvent"].includes(s?.body?.type) && s.body.action === "ADD");
  const containers = [...new Set(events.map(([, s]) => s?.container).filter(Boolean))];
  for (const [label, step] of events.filter(([, s]) => s?.container)) {
    const inside = new Set([token]);
    for (let grew = true; grew;) {
      grew = false;
      for (const parent of containers) {
        if (inside.has(parent)) continue;
        if (packings.some((p) => p.time <= step.time && hasField(p.public_form, `parentID=${parent}`) && [...inside].some((c) => hasField(p.public_form, `epc=${c}`)))) {
          inside.add(parent);
          grew = true;
        }
      }
    }
    check(`${label}: the item was packed into its container`, inside.has(step.container), step.container);
  }

  await guard("recalls", async () => {
    const whole = await registry.isGtinRecalled(BigInt(item.gtin));
    const claimed = proof.recall;
    check("whole-GTIN recall asked of the chain", !whole || (answer.verdict === "recalled" && claimed), `isGtinRecalled = ${whole}`);
    check("a recalled verdict shows its recall", answer.verdict !== "recalled" || claimed, answer.verdict);
    if (trail.some((s) => s?.event === "recalled")) check("a recall in the timeline is in the proof", claimed, "proof.recall");
    if (!claimed) return;
    check("a recall shown makes the verdict 'recalled'", answer.verdict === "recalled", answer.verdict);
    const scope = bytes32(claimed.scope_root, "scope_root");
    if (scope === ZERO) {
      check("the whole-GTIN recall claimed is on chain", whole, `${whole}`);
      return;
    }
    // Scopes are keyed by the recalling brand: only the item's own brand can recall it.
    const brand = await registry.brandOf(BigInt(item.gtin));
    const recallId = await registry.recallOfScope(brand, scope);
    check("the recall scope claimed is on chain, by the brand of the item", recallId !== 0n, `${recallId}`);
    if (claimed.merkle_proof) {
      check("the item is in the recall scope", leaf !== null && rootOf(leaf, claimed.merkle_proof) === scope, scope);
      const recalled = commitment !== null && await registry.isItemRecalled(BigInt(item.gtin), commitment, scope, claimed.merkle_proof);
      check("isItemRecalled asked of the chain", recalled, `${recalled}`);
    }
  });
}

// ---------------------------------------------------------------- main
function options(argv) {
  const known = new Set(["--link", "--rpc", "--registry", "--chain-id", "--answer"]);
  const found = { json: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--json") found.json = true;
    else if (known.has(argv[i]) && i + 1 < argv.length) found[argv[i].slice(2)] = argv[++i];
    else throw new Usage(`unknown argument ${argv[i]}`);
  }
  for (const required of ["link", "rpc", "registry"]) if (!found[required]) throw new Usage(`--${required} is required`);
  if (!isAddress(found.registry)) throw new Usage(`--registry ${found.registry} is not an address`);
  return found;
}

async function main() {
  const opts = options(process.argv.slice(2));
  const item = itemOfLink(opts.link);
  const provider = new JsonRpcProvider(opts.rpc, undefined, { staticNetwork: true, batchMaxCount: 1 });
  const chainId = Number(await provider.send("eth_chainId", []));
  if (opts["chain-id"] !== undefined && Number(opts["chain-id"]) !== chainId) {
    throw new Usage(`the node is chain ${chainId}, not the pinned chain ${opts["chain-id"]}`);
  }
  const address = getAddress(opts.registry);
  if ((await provider.getCode(address)) === "0x") throw new Usage(`no contract at ${address} on chain ${chainId}`);
  const registry = new Contract(address, ABI, provider);
  let answer;
  if (opts.answer) {
    answer = JSON.parse(await readFile(opts.answer, "utf8"));
  } else {
    const url = new URL(opts.link);
    url.searchParams.set("format", "json");
    url.searchParams.set("scan", "false");
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Usage(`${url} answered ${response.status}`);
    answer = await response.json();
  }
  try {
    await verify(answer, item, chainId, provider, registry);
  } catch (error) {
    check("answer", false, `could not be checked: ${error?.message ?? error}`);
  }
  provider.destroy();
  const ok = checks.length > 0 && checks.every((c) => c.ok);
  const out = opts.json ? JSON.stringify({ ok, gtin: item.gtin, serial: item.serial, checks }) + "\n"
    : checks.map((c) => `${c.ok ? "ok    " : "FAILED"} ${c.check}: ${c.detail}`).join("\n") + `\n${ok ? "VERIFIED" : "NOT VERIFIED"}\n`;
  process.stdout.write(out);
  process.exitCode = ok ? 0 : 1; // never process.exit() right after a write: stdout would be cut
}

main().catch((error) => {
  process.stderr.write(`error: ${error?.message ?? error}\n`);
  process.exitCode = error instanceof Usage ? 2 : 1;
});
