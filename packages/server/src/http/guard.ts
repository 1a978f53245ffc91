/**
 * What every request to the contract passes before a handler runs: the bearer token (401), the
 * role its endpoint needs (403), the per-token rate (429) and the body size (413). The operational
 * routes (`/health`, `/ready`, `/metrics`, `/docs`, `/openapi.json`) stay open.
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Forbidden, RateLimited, RequestTooLarge, Unauthorized } from "@invkit/sdk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { type RateLimiterAbstract, RateLimiterRes } from "rate-limiter-flexible"
import type { LimitsConfig } from "../config.js"
import { matchRoute, type RouteTemplate } from "../infra/metrics.js"
import { allows, type Role, type Verifier } from "./auth.js"
import { ANONYMOUS_ACTOR, requestActor } from "./groupHandlers.js"

/**
 * What an endpoint needs: every read is for viewers; stock changes, receiving a restock order and
 * starting a sync for operators; products, locations, suppliers and restock orders for admins.
 */
export const requiredRole = (
  endpoint: { readonly group: string; readonly name: string },
  method: string
): Role => {
  if (method === "GET") return "viewer"
  if (endpoint.group === "stockUpdates") return "operator"
  if (endpoint.group === "suppliers" && endpoint.name === "sync") return "operator"
  if (endpoint.group === "restock" && endpoint.name === "receive") return "operator"
  return "admin"
}

export interface GuardOptions {
  /** None when INV_AUTH=off: every request is let in, as the anonymous actor. */
  readonly verifier: Option.Option<Verifier>
  readonly limits: LimitsConfig
  /** Counts requests per subject (infra/rateLimiter.ts); none when INV_RATE_LIMIT=0. */
  readonly rateLimiter: Option.Option<RateLimiterAbstract>
}

/** An error of the contract as its JSON body, plus `message` for people reading it with curl. */
const errorResponse = <A extends { readonly message: string }, I>(
  schema: Schema.Schema<A, I>,
  error: A,
  status: number,
  headers: Record<string, string> = {}
) =>
  HttpServerResponse.unsafeJson(
    { ...(Schema.encodeSync(schema)(error) as object), message: error.message },
    { status, headers }
  )

const unauthorized = (reason: string) =>
  errorResponse(Unauthorized, new Unauthorized({ reason }), 401, {
    "www-authenticate": 'Bearer realm="invkit"'
  })

/** Closes the connection after answering: the rest of an oversized body is not worth reading. */
export const tooLarge = (limitBytes: number) =>
  errorResponse(RequestTooLarge, new RequestTooLarge({ limitBytes }), 413, { connection: "close" })

const bearer = (header: string | undefined) => {
  const match = header?.match(/^Bearer[ ]+(\S+)\s*$/i)
  return match?.[1]
}

export const guard = (routes: ReadonlyArray<RouteTemplate>, options: GuardOptions) => {
  const { maxBodyBytes } = options.limits
  const limiter = Option.getOrUndefined(options.rateLimiter)

  /** Whether `key` may make one more request now; otherwise how long it must wait. */
  const takeRequest = (key: string) =>
    limiter === undefined
      ? Effect.succeed(Option.none<number>())
      : Effect.promise(() =>
          limiter.consume(key).then(
            () => Option.none<number>(),
            (rejected: unknown) =>
              // A store that fails falls back to memory; anything but a rejection lets the request through.
              rejected instanceof RateLimiterRes
                ? Option.some(Math.max(1, Math.ceil(rejected.msBeforeNext / 1000)))
                : Option.none<number>()
          )
        )

  return <E, R>(app: HttpApp.Default<E, R>) =>
    Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      const endpoint = matchRoute(routes, request.method, request.url)?.endpoint
      if (endpoint === undefined) return yield* app

      let actor = ANONYMOUS_ACTOR
      let rateKey = `address:${Option.getOrElse(request.remoteAddress, () => "unknown")}`
      if (Option.isSome(options.verifier)) {
        const token = bearer(request.headers.authorization)
        if (token === undefined) {
          return unauthorized("no bearer token (send the header Authorization: Bearer <token>)")
        }
        const identity = yield* Effect.either(options.verifier.value.verify(token))
        if (identity._tag === "Left") return unauthorized(identity.left.reason)
        const required = requiredRole(endpoint, request.method)
        if (!allows(identity.right.role, required)) {
          return errorResponse(
            Forbidden,
            new Forbidden({
              role: identity.right.role,
              required,
              action: `${request.method} ${request.url.split("?")[0]}`
            }),
            403
          )
        }
        actor = identity.right.subject
        rateKey = `subject:${actor}`
      }

      const wait = yield* takeRequest(rateKey)
      if (Option.isSome(wait)) {
        return errorResponse(RateLimited, new RateLimited({ retryAfterSeconds: wait.value }), 429, {
          "retry-after": String(wait.value)
        })
      }

      const declaredLength = Number(request.headers["content-length"] ?? 0)
      if (declaredLength > maxBodyBytes) return tooLarge(maxBodyBytes)

      // A body sent without a length is cut off at the limit while it is read (see server.ts).
      return yield* app.pipe(
        Effect.locally(requestActor, actor),
        HttpIncomingMessage.withMaxBodySize(Option.some(maxBodyBytes))
      )
    })
}
