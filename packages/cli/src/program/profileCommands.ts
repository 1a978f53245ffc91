import type { Command } from "commander"

export const addProfileCommands = (program: Command): void => {
  program
    .command("login")
    .description("save a server and its token as a profile (checked against the server first)")
    .option("--token-stdin", "read the token from stdin (e.g. from a secrets manager) instead of --token")
    .option("--ca-file <pem>", "trust this CA for the server's HTTPS certificate")
    .option("--default", "make this the default profile (the first profile always is)")
    .addHelpText(
      "after",
      `
The server comes from --server, the profile's name from --profile (default: default), the token
from --token, --token-stdin or, on a terminal, a prompt that does not echo it. The profiles live
in $XDG_CONFIG_HOME/inv/config.json (else ~/.config/inv/config.json), readable only by you.

Examples:
  inv login --server https://inv.example.com --profile prod
  printf %s "$TOKEN" | inv login --server https://inv.example.com --token-stdin`
    )
    .action(async (_options, command: Command) => {
      const { login } = await import("../commands/profile/login.js")
      await login(command.optsWithGlobals())
    })

  program
    .command("logout")
    .description("forget a profile and its token (--profile, else the default profile)")
    .action(async (_options, command: Command) => {
      const { logout } = await import("../commands/profile/login.js")
      await logout(command.optsWithGlobals())
    })

  program
    .command("config")
    .description("show where commands work and where each setting comes from (tokens are never shown)")
    .action(async (_options, command: Command) => {
      const { show } = await import("../commands/profile/config.js")
      await show(command.optsWithGlobals())
    })
}
