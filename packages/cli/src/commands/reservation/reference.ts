import { InvalidArgument } from "../../usageError.js"

/** The SDK's `reference` is `--for` on the command line: a refusal names the flag the user typed. */
export const asForOption = <A>(result: Promise<A>): Promise<A> =>
  result.catch((error: unknown) => {
    const { _tag, field, rule } = (error ?? {}) as { _tag?: string; field?: string; rule?: string }
    if (_tag === "InvalidInput" && field === "reference" && rule !== undefined)
      throw new InvalidArgument("for", rule)
    throw error
  })
