/**
 * The type of a group's handlers in any API that serves it: each service's API and `InventoryApi`
 * declare the same API-level errors (and every API its decode error), so one implementation of a group serves both.
 */
import type * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import type { HttpApiDecodeError } from "@effect/platform/HttpApiError"
import type { InvalidInput, StoreError } from "@invkit/sdk"

export type GroupHandlers<Group extends import("@effect/platform/HttpApiGroup").HttpApiGroup.Any> =
  HttpApiBuilder.Handlers.FromGroup<InvalidInput | StoreError | HttpApiDecodeError, never, Group>

/** Who a change is recorded as until requests carry an identity (auth comes in a later issue). */
export const ACTOR = "http"
