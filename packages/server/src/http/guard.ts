/**
 * The contract's `Authentication` middleware, which runs before every `/v1` handler decodes
 * anything: the bearer token (401), the role the endpoint's `RequiredRole` annotation names (403),
 * the per-token rate (429) and the body size (413). It provides the token's subject as the
 * request's actor. The operational routes (`/health`, `/ready`, `/metrics`, `/docs`,
 * `/openapi.json`) are not in the contract, so they stay open.
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Api, Forbidden, RateLimited, RequestTooLarge, Unauthorized } from "@invkit/sdk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { RateLimiterRes } from "rate-limiter-flexible"
import type { LimitsConfig } from "../config.js"
import type { RequestCounter } from "../infra/rateLimiter.js"
import { allows, type Role, type Verifier } from "./auth.js"

/** Who a change is recorded as when the server runs without authentication (INV_AUTH=off). */
export const ANONYMOUS_ACTOR = "http"

export interface GuardOptions {
  /** None when INV_AUTH=off: every request is let in, as the anonymous actor. */
  readonly verifier: Option.Option<Verifier>
  readonly limits: LimitsConfig
  /** Counts requests per subject (infra/rateLimiter.ts); none when INV_RATE_LIMIT=0. */
  readonly rateLimiter: Option.Option<RequestCounter>
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

/** Closes the connection after answering: the rest of an oversized body is not worth reading. */
export const tooLarge = (limitBytes: number) =>
  errorResponse(RequestTooLarge, new RequestTooLarge({ limitBytes }), 413, { connection: "close" })

/**
 * Fails with the contract's error; the answer keeps the body's `message` and the headers the
 * platform's encoding of a declared error would drop (the challenge, Retry-After, Connection).
 */
const refuse = <E>(error: E, response: HttpServerResponse.HttpServerResponse) =>
  Effect.zipRight(
    HttpApp.appendPreResponseHandler(() => Effect.succeed(response)),
    Effect.fail(error)
  )

const unauthorized = (reason: string) => {
  const error = new Unauthorized({ reason })
  return refuse(
    error,
    errorResponse(Unauthorized, error, 401, { "www-authenticate": 'Bearer realm="invkit"' })
  )
}

/** The token of `Authorization: Bearer <token>`; the platform's decoding does not check the scheme. */
const bearer = (header: string | undefined) => {
  const match = header?.match(/^Bearer[ ]+(\S+)\s*$/i)
  return match?.[1]
}

/** The request's actor, or the refusal the contract declares. */
type Admission = Effect.Effect<string, Unauthorized | Forbidden | RateLimited | RequestTooLarge>

const routeKey = (method: string, path: string) => `${method} ${path}`

/**
 * Each endpoint's `RequiredRole`, by the router's method and path, read from the contract once.
 * An endpoint without one stops the server at startup rather than be open to every role.
 */
const requiredRoles = (api: HttpApi.HttpApi.Any) => {
  const byRoute = new Map<string, Role>()
  const missing: Array<string> = []
  HttpApi.reflect(api as HttpApi.HttpApi<string, never, never, never>, {
    onGroup: () => {},
    onEndpoint: ({ group, endpoint, mergedAnnotations }) => {
      const role = Context.getOption(mergedAnnotations, Api.RequiredRole)
      if (Option.isSome(role)) byRoute.set(routeKey(endpoint.method, endpoint.path), role.value)
      else missing.push(`${group.identifier}.${endpoint.name}`)
    }
  })
  if (missing.length > 0)
    throw new Error(`endpoints without a RequiredRole annotation: ${missing.join(", ")}`)
  return byRoute
}

export const authentication = (api: HttpApi.HttpApi.Any, options: GuardOptions) =>
  Layer.sync(Api.Authentication, () => {
    const { maxBodyBytes } = options.limits
    const limiter = Option.getOrUndefined(options.rateLimiter)
    const roleOf = requiredRoles(api)

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

    /** The rate and the body size, once the caller is known. */
    const admitAs = (
      request: HttpServerRequest.HttpServerRequest,
      actor: string,
      rateKey: string
    ): Admission => {
      // A body sent without a length is cut off at the limit while it is read (see server.ts).
      const declaredLength = Number(request.headers["content-length"] ?? 0)
      const sized: Admission =
        declaredLength > maxBodyBytes
          ? refuse(new RequestTooLarge({ limitBytes: maxBodyBytes }), tooLarge(maxBodyBytes))
          : Effect.succeed(actor)
      if (limiter === undefined) return sized
      return Effect.flatMap(takeRequest(rateKey), (wait): Admission => {
        if (Option.isNone(wait)) return sized
        const error = new RateLimited({ retryAfterSeconds: wait.value })
        return refuse(error, errorResponse(RateLimited, error, 429, { "retry-after": String(wait.value) }))
      })
    }

    // Plain functions over the fiber's context rather than a generator of effects: this runs
    // before every request of the contract.
    const admit = Effect.withFiberRuntime((fiber): Admission => {
      const context = fiber.currentContext
      const request = Context.unsafeGet(context, HttpServerRequest.HttpServerRequest)
      if (Option.isNone(options.verifier)) {
        return admitAs(
          request,
          ANONYMOUS_ACTOR,
          `address:${Option.getOrElse(request.remoteAddress, () => "unknown")}`
        )
      }
      const token = bearer(request.headers.authorization)
      if (token === undefined) {
        return unauthorized("no bearer token (send the header Authorization: Bearer <token>)")
      }
      return Effect.matchEffect(options.verifier.value.verify(token), {
        onFailure: (rejected) => unauthorized(rejected.reason),
        onSuccess: (identity): Admission => {
          const { route } = Context.unsafeGet(context, HttpRouter.RouteContext)
          // Every route has its role (checked at startup); the fallback only keeps a gap closed.
          const required = roleOf.get(routeKey(route.method, route.path)) ?? "admin"
          if (!allows(identity.role, required)) {
            const error = new Forbidden({
              role: identity.role,
              required,
              action: `${request.method} ${request.url.split("?")[0]}`
            })
            return refuse(error, errorResponse(Forbidden, error, 403))
          }
          return admitAs(request, identity.subject, `subject:${identity.subject}`)
        }
      })
    })

    return { bearer: () => admit }
  })
