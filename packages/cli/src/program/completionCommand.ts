import { Argument, type Command } from "commander"
import { shells } from "../shellCompletion.js"

export const addCompletionCommand = (program: Command): void => {
  program
    .command("completion")
    .description("print a script that completes inv's commands and options in your shell")
    .addArgument(new Argument("<shell>", "the shell the script is for").choices(shells))
    .addHelpText(
      "after",
      `
Examples:
  source <(inv completion bash)                 (bash: this shell; add the line to ~/.bashrc for every one)
  inv completion zsh > "\${fpath[1]}/_inv"        (zsh: then start a new shell)
  inv completion fish > ~/.config/fish/completions/inv.fish`
    )
    .action(async (shell, _options, command: Command) => {
      const { run } = await import("../commands/completion/print.js")
      run(shell, command.parent as Command)
    })
}
