/**
 * Bearer tokens: JWTs verified with jose against the one configured key, so the algorithm is
 * pinned (a token signed any other way, `alg: none` included, is refused). `exp` and `sub` are
 * required; `aud` and `iss` are checked when configured. The token's `role` claim says what it
 * may do and its subject is recorded as the actor of every change it makes.
 */
import { readFile } from "node:fs/promises"
import { Api, Rules } from "@invkit/sdk"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as jose from "jose"
import type { AuthConfig, JwtKey } from "../config.js"

export const roles = Api.roles
export type Role = Api.Role

/** viewer < operator < admin: each role may do what the ones below it may. */
export const allows = (role: Role, required: Role) => roles.indexOf(role) >= roles.indexOf(required)

export const isRole = (value: unknown): value is Role => (roles as ReadonlyArray<unknown>).includes(value)

export interface Identity {
  readonly subject: string
  readonly role: Role
}

/** Why a token was refused, worded for the 401 body; never the token itself. */
export class TokenRejected {
  readonly _tag = "TokenRejected"
  constructor(readonly reason: string) {}
}

export interface Verifier {
  readonly verify: (token: string) => Effect.Effect<Identity, TokenRejected>
}

/** The configured key could not be read; startup stops with this message. */
export class KeyUnreadable extends Data.TaggedError("KeyUnreadable")<{ readonly message: string }> {}

type Key = Parameters<typeof jose.jwtVerify>[1]

const loadKey = (key: JwtKey): Effect.Effect<Key, KeyUnreadable> => {
  switch (key.kind) {
    case "secret":
      return Effect.succeed(new TextEncoder().encode(Redacted.value(key.secret)))
    case "publicKey":
      return Effect.tryPromise({
        try: async () => jose.importSPKI(await readFile(key.file, "utf8"), key.algorithm),
        catch: (error) =>
          new KeyUnreadable({
            message: `INV_JWT_PUBLIC_KEY_FILE: cannot use ${key.file} as a ${key.algorithm} public key (a PEM "BEGIN PUBLIC KEY" file): ${(error as Error).message}`
          })
      })
    case "jwks":
      return Effect.tryPromise({
        try: async () => jose.createLocalJWKSet(JSON.parse(await readFile(key.file, "utf8"))),
        catch: (error) =>
          new KeyUnreadable({
            message: `INV_JWT_JWKS_FILE: cannot read ${key.file} as a JSON Web Key Set ({"keys": [...]}): ${(error as Error).message}`
          })
      })
  }
}

/** jose's error codes, in the words a 401 body uses. */
const rejection = (error: unknown): TokenRejected => {
  const code = (error as { code?: string }).code
  const claim = (error as { claim?: string }).claim
  switch (code) {
    case "ERR_JWT_EXPIRED":
      return new TokenRejected("the token has expired")
    case "ERR_JWT_CLAIM_VALIDATION_FAILED":
      return new TokenRejected(
        claim === "nbf"
          ? "the token is not valid yet (nbf)"
          : claim === "aud" || claim === "iss"
            ? `the token's ${claim} is not the one this server accepts`
            : `the token's ${claim ?? "claims"} claim is missing or invalid`
      )
    case "ERR_JOSE_ALG_NOT_ALLOWED":
      return new TokenRejected("the token is not signed with the algorithm this server accepts")
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
    case "ERR_JWKS_NO_MATCHING_KEY":
      return new TokenRejected("the token's signature does not match this server's key")
    default:
      return new TokenRejected("the token is not a valid JWT")
  }
}

/** Tokens remembered after a successful verification (a client sends the same token again and again). */
const VERIFIED_TOKENS = 10_000

export const makeVerifier = (
  config: Extract<AuthConfig, { mode: "jwt" }>
): Effect.Effect<Verifier, KeyUnreadable> =>
  Effect.gen(function* () {
    const key = yield* loadKey(config.key)
    const options: jose.JWTVerifyOptions = {
      algorithms: [config.key.algorithm],
      clockTolerance: config.clockToleranceSeconds,
      requiredClaims: ["exp", "sub"],
      ...(Option.isSome(config.audience) ? { audience: config.audience.value } : {}),
      ...(Option.isSome(config.issuer) ? { issuer: config.issuer.value } : {})
    }
    const verify = (token: string) =>
      Effect.tryPromise({
        // jose takes a key or a key-set function; both are the same call at runtime.
        try: () => jose.jwtVerify(token, key as Uint8Array, options),
        catch: rejection
      }).pipe(
        Effect.flatMap(({ payload }) =>
          typeof payload.sub !== "string" || payload.sub === ""
            ? Effect.fail(new TokenRejected("the token has no subject (sub)"))
            : !Rules.isActor(payload.sub)
              ? Effect.fail(
                  new TokenRejected(
                    `the token's subject (sub) is recorded as who made each change, so it ${Rules.ACTOR_RULE}`
                  )
                )
              : !isRole(payload.role)
                ? Effect.fail(new TokenRejected("the token's role claim must be viewer, operator or admin"))
                : Effect.succeed({
                    subject: payload.sub,
                    role: payload.role,
                    expiresAt: (payload.exp ?? 0) * 1000
                  })
        )
      )
    // A signature check costs about 0.1 ms of CPU, as much as the rest of a cached read: a token
    // that passed is remembered until its `exp` (never past it); a refused one is checked afresh.
    // A plain Map, oldest dropped first when full: Effect's Cache hashed the whole token and ran a
    // dozen steps on every request.
    const verified = new Map<string, { readonly identity: Identity; readonly expiresAt: number }>()
    const remember = (token: string, identity: Identity, expiresAt: number) => {
      if (expiresAt <= Date.now()) return
      if (verified.size >= VERIFIED_TOKENS) verified.delete(verified.keys().next().value!)
      verified.set(token, { identity, expiresAt })
    }
    return {
      verify: (token) => {
        const known = verified.get(token)
        if (known !== undefined) {
          if (known.expiresAt > Date.now()) return Effect.succeed(known.identity)
          verified.delete(token)
        }
        return Effect.map(verify(token), ({ subject, role, expiresAt }): Identity => {
          const identity = { subject, role }
          remember(token, identity, expiresAt)
          return identity
        })
      }
    }
  })

/** Mints an HS256 token with the shared secret: for operators and tests (`inv-server token create`). */
export const mintToken = (options: {
  readonly secret: Redacted.Redacted<string>
  readonly subject: string
  readonly role: Role
  readonly ttlSeconds: number
  readonly audience?: string | undefined
  readonly issuer?: string | undefined
}): Promise<string> => {
  let jwt = new jose.SignJWT({ role: options.role })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(options.subject)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + options.ttlSeconds)
  if (options.audience) jwt = jwt.setAudience(options.audience)
  if (options.issuer) jwt = jwt.setIssuer(options.issuer)
  return jwt.sign(new TextEncoder().encode(Redacted.value(options.secret)))
}
