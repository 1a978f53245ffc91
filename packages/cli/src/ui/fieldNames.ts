import type { Command, Option } from "commander"

/** The option of `command` (or of a command above it) that sets the SDK field `name`. */
const optionFor = (name: string, command: Command): Option | undefined => {
  // `noExpiry` is commander's `--no-expiry`, whose attribute is `expiry` (set to false).
  const negated = /^no[A-Z]/.test(name) ? name.charAt(2).toLowerCase() + name.slice(3) : undefined
  for (let owner: Command | null = command; owner !== null; owner = owner.parent) {
    const option =
      owner.options.find((candidate) => !candidate.negate && candidate.attributeName() === name) ??
      owner.options.find((candidate) => candidate.negate && candidate.attributeName() === negated) ??
      owner.options.find((candidate) => candidate.attributeName() === name)
    if (option !== undefined) return option
  }
  return undefined
}

/**
 * The name the user typed for an SDK field, read from the running command's own options and
 * arguments so it cannot drift: `reorderPoint` → `--reorder-point`, `quantity` → `<quantity>`,
 * `noExpiry` → `--no-expiry`. A nested field (`connector.timeoutMs`) is looked up by its last
 * part; undefined when the command line has no name for it.
 */
export const commandLineName = (field: string, command: Command): string | undefined => {
  for (const name of new Set([
    field,
    field
      .split(/[.[\]]/)
      .filter(Boolean)
      .pop() ?? field
  ])) {
    const option = optionFor(name, command)
    if (option !== undefined) return option.long ?? option.flags
    if (command.registeredArguments.some((argument) => argument.name() === name)) return `<${name}>`
  }
  return undefined
}

/** As commandLineName, or the field as the SDK names it. */
export const nameOnCommandLine = (field: string, command: Command): string =>
  commandLineName(field, command) ?? field

/**
 * A rule's text with the fields it names (the SDK's `mentions`) as the command line spells them:
 * "give at least one of name, reorderPoint" → "give at least one of --name, --reorder-point".
 */
export const ruleOnCommandLine = (
  rule: string,
  mentions: ReadonlyArray<string>,
  command: Command
): string => {
  if (mentions.length === 0) return rule
  const names = mentions.map((name) => name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|")
  return rule.replace(new RegExp(`\\b(${names})\\b`, "g"), (name) => nameOnCommandLine(name, command))
}
