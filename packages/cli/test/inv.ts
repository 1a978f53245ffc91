/** Runs the built `inv` as a user would: a new process, stdin not a terminal, its own data dir. */
import { execFile } from "node:child_process"
import { existsSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

export const binPath = fileURLToPath(new URL("../dist/bin.js", import.meta.url))

export const requireBuiltCli = (): void => {
  if (!existsSync(binPath)) {
    throw new Error(
      `${binPath} is missing: build first (pnpm --filter @invkit/sdk build && pnpm --filter @invkit/cli build)`
    )
  }
}

export interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

// The store is chosen by --data-dir alone, whatever the environment (or the saved profiles) of
// the person running tests.
const {
  INV_DATABASE_URL: _url,
  INV_HOME: _home,
  INV_URL: _server,
  INV_TOKEN: _token,
  INV_PROFILE: _profile,
  INV_CA_FILE: _ca,
  ...inherited
} = process.env
/**
 * The environment every `inv` of the tests runs in. Store processes stop soon after their last
 * command (and the global teardown stops the rest), so no test run leaves them behind.
 */
export const environment = {
  ...inherited,
  XDG_CONFIG_HOME: mkdtempSync(join(tmpdir(), "inv-test-config-")),
  INV_STORE_IDLE: "30s"
}

/**
 * `variables` adds to the environment, e.g. the variable that `--api-key-env` names; `input` is
 * written to stdin (e.g. for `--token-stdin`).
 */
export const runInv = (
  args: ReadonlyArray<string>,
  variables: Record<string, string> = {},
  input?: string
): Promise<Run> =>
  new Promise((resolve) => {
    const env = { ...environment, ...variables }
    const child = execFile(process.execPath, [binPath, ...args], { env }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
      resolve({ code, stdout, stderr })
    })
    if (input !== undefined) child.stdin?.end(input)
  })
