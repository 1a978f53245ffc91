/**
 * The type of a group's handlers in any API that serves it: each service's API and `InventoryApi`
 * declare the same API-level errors (and every API its decode error), so one implementation of a group serves both.
 */
import type * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import type { HttpApiDecodeError } from "@effect/platform/HttpApiError"
import type {
  Forbidden,
  InvalidInput,
  RateLimited,
  RequestTooLarge,
  StoreError,
  Unauthorized
} from "@invkit/sdk"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"

export type GroupHandlers<Group extends import("@effect/platform/HttpApiGroup").HttpApiGroup.Any> =
  HttpApiBuilder.Handlers.FromGroup<
    InvalidInput | StoreError | HttpApiDecodeError | Unauthorized | Forbidden | RequestTooLarge | RateLimited,
    never,
    Group
  >

/** Who a change is recorded as when the server runs without authentication (INV_AUTH=off). */
export const ANONYMOUS_ACTOR = "http"

/** The request's actor: the guard sets it to the verified token's subject. */
export const requestActor = FiberRef.unsafeMake(ANONYMOUS_ACTOR)

/** Runs `use` with the actor of the request being handled, for the ledger. */
export const withActor = <A, E, R>(use: (actor: string) => Effect.Effect<A, E, R>) =>
  Effect.flatMap(FiberRef.get(requestActor), use)
