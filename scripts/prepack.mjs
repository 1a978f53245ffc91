#!/usr/bin/env node
/**
 * Each package's prepack (run in the package's directory by `pnpm pack` and `pnpm publish`): puts
 * the repository's LICENSE in the tarball, and refuses to pack with npm, whose tarball would keep
 * the `catalog:` and `workspace:` specifiers that only pnpm resolves (no installer could read it).
 */
import { copyFileSync } from "node:fs"

const agent = process.env.npm_config_user_agent ?? ""
if (!agent.startsWith("pnpm/")) {
  console.error(
    `pack and publish this package with pnpm (pnpm pack, pnpm release), not ${agent.split(" ")[0] || "this tool"}: ` +
      "only pnpm replaces its catalog: and workspace: dependency versions with real ones"
  )
  process.exit(1)
}
copyFileSync(new URL("../LICENSE", import.meta.url), "LICENSE")
