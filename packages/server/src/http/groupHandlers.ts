/**
 * The type of a group's handlers in any API that serves it: each service's API and `InventoryApi`
 * declare the same API-level errors (and every API its decode error), so one implementation of a group serves both.
 */
import type * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import type { HttpApiDecodeError } from "@effect/platform/HttpApiError"
import {
  Api,
  type Forbidden,
  type InvalidInput,
  type RateLimited,
  type RequestTooLarge,
  type StoreError,
  type Unauthorized
} from "@invkit/sdk"
import * as Effect from "effect/Effect"

export type GroupHandlers<Group extends import("@effect/platform/HttpApiGroup").HttpApiGroup.Any> =
  HttpApiBuilder.Handlers.FromGroup<
    InvalidInput | StoreError | HttpApiDecodeError | Unauthorized | Forbidden | RequestTooLarge | RateLimited,
    never,
    Group
  >

/** Runs `use` with the actor of the request being handled (the Authentication middleware provides it), for the ledger. */
export const withActor = <A, E, R>(use: (actor: string) => Effect.Effect<A, E, R>) =>
  Effect.flatMap(Api.CurrentActor, use)
