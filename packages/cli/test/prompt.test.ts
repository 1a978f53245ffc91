/**
 * Prompts on a real pseudo-terminal (`script` from util-linux, as in importExport.test.ts): a
 * refused answer is asked again, Ctrl-C and Ctrl-D end with exit 130 and no message. The
 * embedded store only: a prompt happens before the store is chosen.
 */
import { spawn, spawnSync } from "node:child_process"
import { stripVTControlCharacters } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { binPath, environment } from "./inv.js"
import { copyOfTemplateStore, type Store } from "./store.js"

let store: Store

beforeAll(async () => {
  store = await copyOfTemplateStore()
  expect((await store.inv("product", "add", "P-1", "--name", "Prompted")).code).toBe(0)
})

afterAll(() => store?.close())

/** What the person sees (colours and cursor moves taken out) and the exit code. */
interface Session {
  readonly code: number | null
  readonly screen: string
}

/**
 * Runs `inv …args` on a terminal; for each step, waits until the screen shows `waitFor` (after
 * the previous step's) and then types `keys`.
 */
const onTerminal = (
  args: ReadonlyArray<string>,
  steps: ReadonlyArray<readonly [waitFor: string, keys: string]>
): Promise<Session> =>
  new Promise((resolve) => {
    const command = [process.execPath, binPath, "--data-dir", store.dataDir, ...args]
      .map((word) => `'${word}'`)
      .join(" ")
    const child = spawn("script", ["-qec", command, "/dev/null"], { env: environment })
    let screen = ""
    let seenUpTo = 0
    let step = 0
    child.stdout.on("data", (chunk) => {
      screen += stripVTControlCharacters(String(chunk))
      const next = steps[step]
      if (next === undefined) return
      const at = screen.indexOf(next[0], seenUpTo)
      if (at === -1) return
      seenUpTo = at + next[0].length
      step += 1
      child.stdin.write(next[1])
    })
    // A prompt that never ends fails the test with what it showed, and leaves no process behind.
    const stuck = setTimeout(() => child.kill(), 50_000)
    child.on("close", (code) => {
      clearTimeout(stuck)
      resolve({ code, screen })
    })
  })

const hasScript = spawnSync("script", ["--version"]).status === 0

// Each step starts an inv process, slow on a busy machine.
describe.skipIf(!hasScript && process.env.CI !== "true")("prompts on a terminal", { timeout: 60_000 }, () => {
  it("asks again after an invalid value, then takes a valid one", async () => {
    if (!hasScript) throw new Error("`script` (util-linux) is needed for this test")
    const session = await onTerminal(
      ["stock", "set"],
      [
        ["SKU", "P-1\r"],
        ["Quantity", "lots\r"],
        ['not "lots"', "7\r"]
      ]
    )
    expect(session.screen).toContain("P-1 at default: 7 on hand")
    expect(session.code, session.screen).toBe(0)
    expect((await store.json("stock", "get", "P-1")).onHand).toBe(7)
  })

  it("asks again for a SKU the SDK's rule refuses", async () => {
    if (!hasScript) throw new Error("`script` (util-linux) is needed for this test")
    const session = await onTerminal(
      ["product", "get"],
      [
        ["SKU", "no spaces please\r"],
        ["(no spaces)", "P-1\r"]
      ]
    )
    expect(session.screen).toContain("Prompted")
    expect(session.code, session.screen).toBe(0)
  })

  for (const [key, keys] of [
    ["Ctrl-C", "\x03"],
    ["Ctrl-D", "\x04"]
  ] as const) {
    it(`ends with exit 130 and no message on ${key}`, async () => {
      if (!hasScript) throw new Error("`script` (util-linux) is needed for this test")
      const session = await onTerminal(["stock", "set", "P-1"], [["Quantity", keys]])
      expect(session.code, session.screen).toBe(130)
      expect(session.screen).not.toContain("error")
    })
  }
})
