// The raw baseline of the stock benchmarks: the statements the SDK sends for `stock.adjust`,
// recorded from the SDK itself at the start of the run (three probe adjustments), with their
// parameters turned into a template. The baseline is therefore the SDK's own text and cannot
// drift from it; a change in what the SDK sends stops the run with the statements it saw.
import { randomBytes } from "node:crypto"
import pg from "pg"

const PROBE_ACTOR = `bench-probe-${randomBytes(4).toString("hex")}`

/** Every statement pg sends while `work` runs, with its parameters and the name it is prepared under, if any. */
export const recording = async (work) => {
  const seen = []
  const original = pg.Client.prototype.query
  pg.Client.prototype.query = function (config, ...rest) {
    const text = typeof config === "string" ? config : config.text
    const values = (typeof config === "string" ? rest[0] : config.values) ?? []
    const name = typeof config === "string" ? undefined : config.name
    seen.push({ text, values: Array.isArray(values) ? values : [], name })
    return original.call(this, config, ...rest)
  }
  try {
    await work()
  } finally {
    pg.Client.prototype.query = original
  }
  return seen
}

/**
 * The probe's parameters as a template: the probe's SKU, delta, actor and key become the
 * caller's; every other value (location, reason, the absent reference and trace context) stays.
 */
const template = (values, probe) => {
  const slots = values.map((value) => {
    if (value === probe.sku) return (call) => call.sku
    if (value === probe.delta) return (call) => call.delta
    if (value === PROBE_ACTOR) return (call) => call.actor
    if (value === probe.key) return (call) => call.key
    return () => value
  })
  return (call) => slots.map((slot) => slot(call))
}

const fail = (what, seen) => {
  const lines = seen.map(({ text }) => `  ${text.replace(/\s+/g, " ").trim().slice(0, 160)}`)
  throw new Error(`bench/adjustStatements.mjs: ${what}; the SDK sent:\n${lines.join("\n")}`)
}

/** The statements of one probe adjustment, checked against the shape a baseline can repeat. */
const probe = async (inv, sku, delta, reason, key) => {
  const sent = await recording(() =>
    inv.stock.adjust(
      sku,
      delta,
      key ? { reason, actor: PROBE_ACTOR, idempotencyKey: key } : { reason, actor: PROBE_ACTOR }
    )
  )
  // The SDK tells relays after a commit with a standalone NOTIFY of its own, sent at some point
  // after the change (a previous probe's may land in this one): not part of the transaction.
  const seen = sent.filter(({ text }) => !/^notify /i.test(text.trim()))
  // Unkeyed, the one statement goes alone (PostgreSQL commits it on its own); keyed, in a transaction.
  const shapes = key ? [["BEGIN", "", "", "", "", "", "COMMIT"]] : [[""], ["BEGIN", "", "COMMIT"]]
  const texts = seen.map((s) => s.text.trim())
  const fits = (shape) =>
    texts.length === shape.length &&
    shape.every((t, i) => (t === "" ? !/^(BEGIN|COMMIT)$/.test(texts[i]) : texts[i] === t))
  if (!shapes.some(fits)) {
    fail(`the SDK's transaction for an adjustment by ${delta}${key ? " with a key" : ""} changed shape`, seen)
  }
  return seen
}

/**
 * What pg is given for a recorded statement: unnamed, as a raw per-request transaction sends it by
 * default; or, `prepared`, under the name the SDK prepares it under (if it does), so that each
 * connection parses and plans it once as the SDK's do.
 */
export const queryOf = (prepared, text, name, values) =>
  prepared && name !== undefined ? { name, text, values } : { text, values }

/**
 * Records how `inv` (opened on PostgreSQL, without group commit) adjusts `sku` by +1 and -1,
 * unkeyed and keyed, and answers the statements: `unkeyedAlone`, `increase` and `decrease`, each with its
 * unkeyed and keyed `params({ sku, delta, actor, key })` and the `name` the SDK prepares it
 * under, and the idempotency key's `keyExpire [key]`, `keyClaim [key, hash]`, `keySavepoint`,
 * `keyAnswer [answer, key]` with their `keyNames`. The probes
 * leave the level as they found it (+1 -1 +1 -1).
 */
export const recordAdjustStatements = async (inv, sku, reason) => {
  const keys = [1, 2].map(() => `probe-${randomBytes(4).toString("hex")}`)
  const change = (seen) => seen.find(({ text }) => !/^(BEGIN|COMMIT)$/.test(text.trim()))
  const unkeyedUp = await probe(inv, sku, 1, reason)
  const up = change(unkeyedUp)
  const down = change(await probe(inv, sku, -1, reason))
  const keyedUp = await probe(inv, sku, 1, reason, keys[0])
  const keyedDown = await probe(inv, sku, -1, reason, keys[1])
  const [, keyExpire, keyClaim, keySavepoint, keyedUpChange, keyAnswer] = keyedUp
  const keyedDownChange = keyedDown[4]
  if (keyedUpChange.text !== up.text || keyedDownChange.text !== down.text) {
    fail("a keyed adjustment sends another statement than an unkeyed one", [...keyedUp, ...keyedDown])
  }
  const keyAt = (statement, i) => statement.values[i] === keys[0]
  if (!keyAt(keyExpire, 0) || !keyAt(keyClaim, 0) || !keyAt(keyAnswer, 1)) {
    fail("the idempotency key's parameters moved", keyedUp)
  }
  const statement = (unkeyed, keyed, delta, key) => {
    const plain = template(unkeyed.values, { sku, delta })
    const withKey = template(keyed.values, { sku, delta, key })
    return {
      text: unkeyed.text,
      name: unkeyed.name,
      params: (call) => (call.key == null ? plain(call) : withKey(call))
    }
  }
  return {
    /** Whether the SDK sends an unkeyed adjustment as its lone statement, without BEGIN and COMMIT. */
    unkeyedAlone: unkeyedUp.length === 1,
    increase: statement(up, keyedUpChange, 1, keys[0]),
    decrease: statement(down, keyedDownChange, -1, keys[1]),
    keyExpire: keyExpire.text,
    keyClaim: keyClaim.text,
    keySavepoint: keySavepoint.text,
    keyAnswer: keyAnswer.text,
    /** The names the SDK prepares the key's statements under (undefined: sent unnamed). */
    keyNames: { expire: keyExpire.name, claim: keyClaim.name, answer: keyAnswer.name }
  }
}
