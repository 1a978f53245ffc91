/**
 * The commands the README and the guides show must print what they say: `pnpm inv …` puts
 * pnpm's banner on stdout before inv's output (so `--json` does not parse); `pnpm -s inv …` does not.
 */
import { readdirSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const root = fileURLToPath(new URL("../../../", import.meta.url))
const documents = ["README.md", ...readdirSync(`${root}docs`).map((name) => `docs/${name}`)].filter((path) =>
  path.endsWith(".md")
)

describe("the documented way to run inv from the checkout", () => {
  it("is pnpm -s inv everywhere in the README and docs/", () => {
    const loud = documents.flatMap((path) =>
      readFileSync(`${root}${path}`, "utf8")
        .split("\n")
        .flatMap((line, i) => (/\bpnpm (run )?inv\b/.test(line) ? [`${path}:${i + 1}: ${line}`] : []))
    )
    expect(loud).toEqual([])
  })

  it("runs the built CLI, as docs/cli.md says", () => {
    const scripts = JSON.parse(readFileSync(`${root}package.json`, "utf8")).scripts
    expect(scripts.inv).toBe("node packages/cli/dist/bin.js")
  })
})
