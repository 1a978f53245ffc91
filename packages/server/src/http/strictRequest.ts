/**
 * What a request to the contract may contain, checked before the router and the schemas see it:
 * a path that is exactly a route (no `;` parameters), and a JSON body that is valid UTF-8, nests
 * at most Rules.MAX_NESTING levels, names each property once, writes each number in digits (with
 * an optional leading minus) and carries no NUL character, and no query to an operation that
 * declares no query parameters, and no second authorization or idempotency key. Each refusal
 * is a 400 InvalidInput naming the field (or a 404 for the path), and nothing runs.
 */
import { HttpApiDecodeError } from "@effect/platform/HttpApiError"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpMethod from "@effect/platform/HttpMethod"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import { InvalidInput, invalidInputAt, invalidInputOf, Rules } from "@invkit/sdk"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import { matchRoute, type RouteTemplate } from "../infra/metrics.js"

const utf8 = new TextDecoder("utf-8", { fatal: true })

/** Whether the quote at `at` is escaped: preceded by an odd number of backslashes. */
const escaped = (text: string, at: number) => {
  let backslashes = 0
  while (text.charCodeAt(at - 1 - backslashes) === 92) backslashes++
  return backslashes % 2 === 1
}

/**
 * The first nesting, duplicated-key or number problem in `text`, which JSON.parse has already
 * accepted (JSON.parse keeps the last of two equal keys and reads `1e3` as 1000, so only the text
 * shows them).
 */
const structureProblem = (text: string): InvalidInput | undefined => {
  // One frame per open object or array: its keys so far (objects), and where the scan is in it.
  const frames: Array<{ keys: Set<string> | undefined; at: string | number }> = []
  let expectingKey = false
  for (let i = 0; i < text.length; i++) {
    const char = text[i]
    if (char === '"') {
      let end = text.indexOf('"', i + 1)
      while (escaped(text, end)) end = text.indexOf('"', end + 1)
      const frame = frames.at(-1)
      if (expectingKey && frame?.keys) {
        const raw = text.slice(i, end + 1)
        const key: string = raw.includes("\\") ? JSON.parse(raw) : raw.slice(1, -1)
        frame.at = key
        if (frame.keys.has(key)) {
          return invalidInputAt(
            frames.map((f) => f.at),
            "is given twice; send each property once"
          )
        }
        frame.keys.add(key)
        expectingKey = false
      }
      i = end
    } else if (char === "{" || char === "[") {
      frames.push({ keys: char === "{" ? new Set() : undefined, at: char === "{" ? "" : 0 })
      if (frames.length > Rules.MAX_NESTING) return invalidInputAt(["body"], Rules.NESTING_RULE)
      expectingKey = char === "{"
    } else if (char === "}" || char === "]") {
      frames.pop()
    } else if (char === ",") {
      const frame = frames.at(-1)
      if (frame?.keys) expectingKey = true
      else if (frame) frame.at = (frame.at as number) + 1
    } else if (char === "-" || (char! >= "0" && char! <= "9")) {
      // Every number of the contract is a whole one, written as on the command line and in an
      // import: JSON's `1e3`, `5.0` and `-0` parse to numbers the schemas would take.
      const token = NUMBER_TOKEN.exec(text.slice(i, i + 40))![0]
      if (Rules.parseDelta(token) === undefined) {
        return invalidInputAt(
          frames.map((f) => f.at),
          `${Rules.DELTA_TEXT_RULE} (not ${token})`
        )
      }
      i += token.length - 1
    }
  }
  return undefined
}

/** A JSON number as written: a sign, digits, a fraction and an exponent. */
const NUMBER_TOKEN = /^-?[0-9]*(\.[0-9]*)?([eE][-+]?[0-9]*)?/

/** The path of the first string holding a NUL, which PostgreSQL cannot store in text. */
const nulAt = (value: unknown, path: Array<PropertyKey>): Array<PropertyKey> | undefined => {
  if (typeof value === "string") return value.includes("\0") ? path : undefined
  if (typeof value !== "object" || value === null) return undefined
  for (const [key, item] of Object.entries(value)) {
    const found = nulAt(item, [...path, Array.isArray(value) ? Number(key) : key])
    if (found) return found
  }
  return undefined
}

const NOT_JSON = "must be application/json: request bodies are JSON"

const NUL_RULE = "contains a NUL character (\\u0000), which text may not hold"

/** The body as strict JSON: InvalidInput for what the schemas cannot see, JSON syntax included. */
const strictJson = (
  request: HttpServerRequest.HttpServerRequest
): Effect.Effect<unknown, InvalidInput | HttpServerError.RequestError> =>
  Effect.flatMap(request.arrayBuffer, (buffer) =>
    Effect.suspend((): Effect.Effect<unknown, InvalidInput | HttpServerError.RequestError> => {
      let text: string
      try {
        text = utf8.decode(buffer)
      } catch {
        return Effect.fail(invalidInputAt(["body"], "is not valid UTF-8; send JSON encoded in UTF-8"))
      }
      if (text.trim() === "") return Effect.succeed(null)
      let value: unknown
      try {
        value = JSON.parse(text)
      } catch (cause) {
        return Effect.fail(
          invalidInputAt(["body"], `is not valid JSON (${(cause as Error).message}); send one JSON object`)
        )
      }
      const problem = structureProblem(text)
      if (problem) return Effect.fail(problem)
      // In valid JSON a NUL can only be written as this escape.
      const nul = text.includes("\\u0000") ? nulAt(value, []) : undefined
      return nul ? Effect.fail(invalidInputAt(nul, NUL_RULE)) : Effect.succeed(value)
    })
  )

/**
 * The first query parameter of a request to an operation that declares none: the platform would
 * ignore it, so `POST /v1/stock/batch?dryRun=true` would apply the batch for real.
 */
const undeclaredQuery = (routes: ReadonlyArray<RouteTemplate>, method: string, url: string) => {
  const query = url.indexOf("?")
  if (query === -1 || query === url.length - 1) return undefined
  if (matchRoute(routes, method, url)?.endpoint?.takesQuery !== false) return undefined
  const [name] = new URLSearchParams(url.slice(query + 1)).keys()
  return name === undefined
    ? undefined
    : invalidInputAt(
        [name],
        "is a query parameter, and this operation takes none: send its fields in the JSON body"
      )
}

/** Headers a request may give once: Node keeps the first authorization and joins two keys into one. */
const ONCE = ["authorization", "idempotency-key"]

/** The first of ONCE that the request gives twice (Node keeps every header as sent in `rawHeaders`). */
const givenTwice = (raw: ReadonlyArray<string> | undefined = []) => {
  let seen: Array<string> | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase()
    if (!ONCE.includes(name)) continue
    if (seen?.includes(name)) return invalidInputAt([name], "is given twice; send it once")
    seen = [...(seen ?? []), name]
  }
  return undefined
}

/** A query parameter holding a NUL, refused like one in the body. */
const nulInQuery = (url: string) => {
  const query = url.indexOf("?")
  if (query === -1) return undefined
  for (const [name, value] of new URLSearchParams(url.slice(query + 1))) {
    if (value.includes("\0")) return invalidInputAt([name], NUL_RULE)
  }
  return undefined
}

/**
 * Runs `app` (the router) on the checked request. The router would take `;` as the end of a path
 * segment (`/v1/products/SKU-1;drop` as `/v1/products/SKU-1`), so such a path is no route. The
 * contract's decoding failures become InvalidInput, the one shape of a 400 for bad input.
 */
export const strictRequests =
  (routes: ReadonlyArray<RouteTemplate>) =>
  <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E | InvalidInput | HttpServerError.RouteNotFound, R> =>
    Effect.flatMap(
      HttpServerRequest.HttpServerRequest,
      (request): HttpApp.Default<E | InvalidInput | HttpServerError.RouteNotFound, R> => {
        const path = request.url.split("?")[0] ?? request.url
        if (path.includes(";")) return Effect.fail(new HttpServerError.RouteNotFound({ request }))
        const nul = path.includes("%00") ? invalidInputAt(["path"], NUL_RULE) : nulInQuery(request.url)
        if (nul) return Effect.fail(nul)
        const undeclared = undeclaredQuery(routes, request.method, request.url)
        if (undeclared) return Effect.fail(undeclared)
        const twice = givenTwice(NodeHttpServerRequest.toIncomingMessage(request).rawHeaders)
        if (twice) return Effect.fail(twice)
        // A GET (HEAD, OPTIONS) has no body the platform reads: its payload comes from the query.
        if (HttpMethod.hasBody(request.method)) {
          // This request's own readers, set on it rather than on a copy provided to `app`: the copy's
          // context merge and fiber-local change cost every write some 20 Effect operations.
          Object.defineProperties(request, {
            json: { get: () => strictJson(request) },
            // The platform would also decode a form body into the payload, past every check above,
            // and take any other body (`text/plain`) as a string, refused as "not a JSON object".
            urlParamsBody: { get: () => Effect.fail(invalidInputAt(["content-type"], NOT_JSON)) },
            text: { get: () => Effect.fail(invalidInputAt(["content-type"], NOT_JSON)) }
          })
        }
        return app.pipe(
          Effect.catchAllCause((cause): Effect.Effect<never, E | InvalidInput> => {
            const error = Cause.squash(cause)
            if (error instanceof InvalidInput) return Effect.fail(error)
            if (error instanceof HttpApiDecodeError) {
              const [issue] = error.issues
              // The body as a whole is of the wrong kind (an array, a number): the schema's own
              // message would be a dump of its type.
              return Effect.fail(
                issue !== undefined && issue.path.length === 0 && issue._tag === "Type"
                  ? invalidInputAt(
                      ["body"],
                      "must be a JSON object with this request's properties (see /openapi.json)"
                    )
                  : invalidInputOf(issue)
              )
            }
            return Effect.failCause(cause)
          })
        )
      }
    )
