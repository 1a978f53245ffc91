/**
 * `inv-server token create --role operator --ttl 1h [--subject NAME]`: mints an HS256 token with
 * the configured INV_JWT_SECRET (and INV_JWT_AUDIENCE / INV_JWT_ISSUER), for operators and tests.
 * Tokens for RS256/ES256 keys come from whoever holds the private key, not from here.
 */
import { userInfo } from "node:os"
import { parseArgs } from "node:util"
import { Rules } from "@invkit/sdk"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { MIN_SECRET_LENGTH } from "./config.js"
import { isRole, mintToken, roles } from "./http/auth.js"

export const tokenUsage = `Usage: inv-server token create --role viewer|operator|admin [--ttl 1h] [--subject NAME]

Prints a bearer token signed with INV_JWT_SECRET (HS256), carrying INV_JWT_AUDIENCE and
INV_JWT_ISSUER when they are set.
  --role      viewer reads; operator also changes stock and starts syncs; admin also manages
              products, locations, suppliers and restock orders
  --ttl       how long it is valid: 90s, 15m, 1h, 7d (default 1h, at most 365d)
  --subject   who the token stands for, recorded as the actor of every change (default: $USER)
`

const ttlUnits: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 }
const MAX_TTL_SECONDS = 365 * 86_400

/** `90s`, `15m`, `1h`, `7d` or plain seconds; undefined when it is not one of those. */
export const parseTtl = (raw: string): number | undefined => {
  const match = raw.trim().match(/^(\d+)\s*([smhd]?)$/)
  if (!match) return undefined
  const seconds = Number(match[1]) * (ttlUnits[match[2] || "s"] ?? 1)
  return seconds > 0 && seconds <= MAX_TTL_SECONDS ? seconds : undefined
}

export class TokenCommandFailed {
  readonly _tag = "TokenCommandFailed"
  constructor(readonly message: string) {}
}

const fail = (message: string) => Effect.fail(new TokenCommandFailed(`${message}\n\n${tokenUsage}`))

/** The help text, or the token, as the lines to print on stdout. */
export const tokenCommand = (args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    if (args.includes("--help") || args.includes("-h")) return tokenUsage.trimEnd()
    const parsed = yield* Effect.try({
      try: () =>
        parseArgs({
          args: [...args],
          allowPositionals: true,
          options: { role: { type: "string" }, ttl: { type: "string" }, subject: { type: "string" } }
        }),
      catch: (error) => new TokenCommandFailed(`${(error as Error).message}\n\n${tokenUsage}`)
    })
    if (parsed.positionals[0] !== "create" || parsed.positionals.length !== 1) {
      return yield* fail("inv-server token: the only command is `token create`")
    }
    const role = parsed.values.role
    if (!isRole(role)) return yield* fail(`--role: must be one of ${roles.join(", ")}`)
    const ttlSeconds = parseTtl(parsed.values.ttl ?? "1h")
    if (ttlSeconds === undefined) return yield* fail("--ttl: must be like 90s, 15m, 1h or 7d, at most 365d")
    const subject = (parsed.values.subject ?? userInfo().username).trim()
    if (subject === "") return yield* fail("--subject: must not be empty")
    if (!Rules.isActor(subject)) {
      return yield* fail(`--subject: it is recorded as who made each change, so it ${Rules.ACTOR_RULE}`)
    }

    const settings = yield* Config.all({
      secret: Config.option(Config.redacted("INV_JWT_SECRET")),
      audience: Config.option(Config.string("INV_JWT_AUDIENCE")),
      issuer: Config.option(Config.string("INV_JWT_ISSUER"))
    }).pipe(Effect.orDie)
    const secret = settings.secret
    if (Option.isNone(secret)) {
      return yield* Effect.fail(
        new TokenCommandFailed(
          "inv-server token create: set INV_JWT_SECRET to the server's secret. Tokens for RS256/ES256 keys are minted by whoever holds the private key."
        )
      )
    }
    if (Redacted.value(secret.value).length < MIN_SECRET_LENGTH) {
      return yield* Effect.fail(
        new TokenCommandFailed(
          `inv-server token create: INV_JWT_SECRET must be at least ${MIN_SECRET_LENGTH} characters (e.g. \`openssl rand -base64 48\`), as the server requires; the value is not shown`
        )
      )
    }
    return yield* Effect.promise(() =>
      mintToken({
        secret: secret.value,
        subject,
        role,
        ttlSeconds,
        audience: Option.getOrUndefined(settings.audience),
        issuer: Option.getOrUndefined(settings.issuer)
      })
    )
  })
