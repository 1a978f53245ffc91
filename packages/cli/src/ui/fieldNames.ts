import type { Command } from "commander"

/**
 * The name the user typed for an SDK field, read from the running command's own options and
 * arguments so it cannot drift: `reorderPoint` → `--reorder-point`, `quantity` → `<quantity>`.
 * A nested field (`connector.timeoutMs`) is looked up by its last part; one the command line has
 * no name for stays as the SDK names it.
 */
export const nameOnCommandLine = (field: string, command: Command): string => {
  for (const name of new Set([
    field,
    field
      .split(/[.[\]]/)
      .filter(Boolean)
      .pop() ?? field
  ])) {
    for (let owner: Command | null = command; owner !== null; owner = owner.parent) {
      const option = owner.options.find((candidate) => candidate.attributeName() === name)
      if (option !== undefined) return option.long ?? option.flags
    }
    if (command.registeredArguments.some((argument) => argument.name() === name)) return `<${name}>`
  }
  return field
}
