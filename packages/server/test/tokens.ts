/**
 * Tokens for the security tests: JWTs signed (or not) any way a client might send them, and
 * mutants of a valid token that can be told apart from it.
 */
import * as jose from "jose"

export const base64url = (value: string | Uint8Array) =>
  Buffer.from(typeof value === "string" ? Buffer.from(value, "utf8") : value).toString("base64url")

export const now = () => Math.floor(Date.now() / 1000)

export type Claims = Record<string, unknown>

/** `defaults` with `overrides` applied; an override of `undefined` removes the claim. */
export const claimsWith = (defaults: Claims, overrides: Claims = {}): Claims => {
  const claims: Claims = { ...defaults }
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete claims[name]
    else claims[name] = value
  }
  return claims
}

/** Signs `claims` exactly as given (no claim added) with `alg` and `key`. */
export const sign = (
  claims: Claims,
  alg: string,
  key: Uint8Array | jose.CryptoKey | jose.KeyObject,
  header: Record<string, unknown> = {}
) => new jose.SignJWT(claims as jose.JWTPayload).setProtectedHeader({ typ: "JWT", ...header, alg }).sign(key)

/** An unsigned token (`alg: none`), crafted by hand: jose does not make these. */
export const unsigned = (claims: Claims, alg = "none") =>
  `${base64url(JSON.stringify({ alg, typ: "JWT" }))}.${base64url(JSON.stringify(claims))}.`

/** The token with its payload replaced, header and signature kept. */
export const withPayload = (token: string, change: (claims: Claims) => Claims) => {
  const [header, payload, signature] = token.split(".")
  const claims = JSON.parse(Buffer.from(payload ?? "", "base64url").toString("utf8")) as Claims
  return `${header}.${base64url(JSON.stringify(change(claims)))}.${signature}`
}

/** A small seeded generator (mulberry32), so a failing mutant can be reproduced. */
export const random = (seed: number) => {
  let state = seed >>> 0
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return { next, int: (below: number) => Math.floor(next() * below) }
}

/**
 * What a mutant may be made of: the base64url alphabet, the separator, padding, the other
 * base64 alphabet and a few characters that are in none of them. No whitespace: a header value's
 * trailing whitespace is not part of it, and a space inside is simply not a bearer token.
 */
const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/!~%*"

/** Applies one to three random edits: flip, insert, delete, truncate, swap/drop/duplicate segments. */
export const mutate = (token: string, rng: ReturnType<typeof random>): { token: string; how: string } => {
  let current = token
  const hows: Array<string> = []
  const edits = 1 + rng.int(3)
  for (let i = 0; i < edits; i++) {
    const segments = current.split(".")
    // an index in a chosen segment, so the short header gets as many edits as the payload
    const segment = rng.int(segments.length)
    const start = segments.slice(0, segment).reduce((sum, s) => sum + s.length + 1, 0)
    const length = segments[segment]?.length ?? 0
    const at = start + rng.int(length + 1)
    const char = alphabet[rng.int(alphabet.length)] ?? "A"
    switch (rng.int(8)) {
      case 0:
      case 1:
        current = current.slice(0, at) + char + current.slice(at + 1)
        hows.push(`flip ${at}→${char}`)
        break
      case 2:
        current = current.slice(0, at) + char + current.slice(at)
        hows.push(`insert ${at} ${char}`)
        break
      case 3:
      case 4:
        current = current.slice(0, at) + current.slice(at + 1)
        hows.push(`delete ${at}`)
        break
      case 5:
        current = current.slice(0, rng.int(current.length))
        hows.push("truncate")
        break
      case 6: {
        const [a = "", b = "", c = ""] = segments
        const orders = [
          [b, a, c],
          [a, c, b],
          [c, b, a],
          [a, a, c],
          [a, b, b],
          [a, b],
          [a, b, c, c],
          [a, b, ""],
          ["", b, c]
        ]
        const order = orders[rng.int(orders.length)] ?? [a, b, c]
        current = order.join(".")
        hows.push(
          `segments ${order.map((s) => (s === a ? "h" : s === b ? "p" : s === c ? "s" : "_")).join(".")}`
        )
        break
      }
      default: {
        // a bit flipped in the decoded bytes of one segment, re-encoded
        const bytes = Buffer.from(segments[segment] ?? "", "base64url")
        if (bytes.length === 0) break
        const index = rng.int(bytes.length)
        bytes[index] = (bytes[index] ?? 0) ^ (1 << rng.int(8))
        segments[segment] = bytes.toString("base64url")
        current = segments.join(".")
        hows.push(`bit in segment ${segment}`)
      }
    }
  }
  return { token: current, how: hows.join(", ") }
}

/** A segment decoded the way jose decodes it on Node 20 (`atob`, forgiving); undefined when it cannot. */
const forgivingDecode = (segment: string): string | undefined => {
  if (segment.includes("+") || segment.includes("/")) return undefined
  try {
    return atob(segment.replace(/-/g, "+").replace(/_/g, "/"))
  } catch {
    return undefined
  }
}

/**
 * Whether `mutant` means the same as `original`: the same text, or the same header and payload
 * text (what the signature covers) with a signature that decodes to the same bytes (a padding or
 * trailing-bit difference). Everything else changes what is signed or the signature itself.
 */
export const sameMeaning = (original: string, mutant: string) => {
  if (original === mutant) return true
  const [h1, p1, s1] = original.split(".")
  const parts = mutant.split(".")
  if (parts.length !== 3 || parts[0] !== h1 || parts[1] !== p1) return false
  const decoded = forgivingDecode(parts[2] ?? "")
  return decoded !== undefined && decoded === forgivingDecode(s1 ?? "")
}
