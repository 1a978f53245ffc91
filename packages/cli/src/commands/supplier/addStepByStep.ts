/**
 * `inv supplier add` on a terminal without feed flags: asks for each setting, tries the mapping
 * against the live feed, and saves only when the person agrees. Prompts draw on stderr; the
 * saved supplier goes to stdout as with the flags.
 */
import { InvalidInput, Supplier } from "@invkit/sdk"
import { optionalNumberArgument } from "../../numberArgument.js"
import { clearableText } from "../../options/clearable.js"
import { type ConnectorInput, mappableFields } from "../../options/connector.js"
import { supplierIdArgument } from "../../options/prompted.js"
import { bySdkRule } from "../../options/sdkRule.js"
import { previewConnector, withInventory } from "../../session.js"
import { note } from "../../ui/output.js"
import { checkedBy, terminal as promptTerminal } from "../../ui/prompt.js"
import { printSupplier, renderPreview } from "../../ui/suppliers.js"
import type { AddSupplierOptions } from "./add.js"

const terminal = promptTerminal()

const optional = (answer: string): string | undefined => (answer.trim() === "" ? undefined : answer.trim())

export const addStepByStep = async (
  idText: string | undefined,
  options: AddSupplierOptions
): Promise<void> => {
  const { confirm, input, password, select } = await import("@inquirer/prompts")

  const id =
    idText ??
    (await input(
      {
        message: "Supplier id (lower-case, e.g. acme)",
        required: true,
        validate: checkedBy(supplierIdArgument.parse)
      },
      terminal
    ))
  const name = options.name ?? (await input({ message: "Name", required: true }, terminal))
  const type = await select<ConnectorInput["type"]>(
    {
      message: "Where is the catalog?",
      choices: [
        { name: "HTTP JSON: a URL that answers with JSON", value: "http-json" },
        { name: "CSV: a file, or a URL", value: "csv" }
      ]
    },
    terminal
  )
  const location = await input(
    { message: type === "http-json" ? "URL" : "File path or URL", required: true },
    terminal
  )
  const itemsPath =
    type === "http-json"
      ? await input(
          { message: "Dot path to the item array, e.g. products (empty: the answer is the array)" },
          terminal
        )
      : undefined
  const delimiter =
    type === "csv"
      ? await input({ message: "Column delimiter", default: ",", required: true }, terminal)
      : undefined

  note(
    type === "http-json"
      ? "Which field of an item holds each value? (a dot path; empty: not in the feed)"
      : "Which column holds each value? (empty: not in the feed)"
  )
  const mapping: Record<string, string> = {}
  for (const [field, meaning] of mappableFields) {
    const source = await input(
      {
        message: `${field}: ${meaning}`,
        required: field === "supplierSku",
        default: field === "supplierSku" ? undefined : ""
      },
      terminal
    )
    if (optional(source) !== undefined) mapping[field] = source.trim()
  }

  const placement = await select<"none" | "header" | "query">(
    {
      message: "API key",
      choices: [
        { name: "none", value: "none" },
        { name: "in a request header (e.g. X-API-Key)", value: "header" },
        { name: "as a query parameter (e.g. api_key)", value: "query" }
      ]
    },
    terminal
  )
  const apiKey =
    placement === "none"
      ? undefined
      : {
          in: placement,
          name: await input(
            {
              message: placement === "header" ? "Header name" : "Query parameter name",
              default: placement === "header" ? "X-API-Key" : "api_key",
              required: true
            },
            terminal
          ),
          value: await password(
            {
              message: "API key (stored; shown only as ***)",
              mask: "*",
              validate: (value) => value !== "" || "must not be empty"
            },
            terminal
          )
        }

  const schedule = optional(
    options.schedule ??
      (await input(
        {
          message: 'Sync schedule, cron (e.g. "0 */6 * * *"; empty: only when asked)',
          validate: (value) =>
            optional(value) === undefined || checkedBy(bySdkRule(Supplier.Schedule, "schedule"))(value.trim())
        },
        terminal
      ))
  )
  const createMissingProducts =
    options.createMissingProducts ??
    (await confirm(
      { message: "Add products that the feed names and our catalog lacks?", default: false },
      terminal
    ))

  const connector: ConnectorInput =
    type === "http-json"
      ? {
          type,
          url: location,
          itemsPath: itemsPath ?? "",
          fields: mapping as Supplier.FieldMapping,
          ...(apiKey ? { apiKey } : {})
        }
      : {
          type,
          source: location,
          columns: mapping as Supplier.FieldMapping,
          delimiter: delimiter ?? ",",
          ...(apiKey ? { apiKey } : {})
        }

  await withInventory(options, async (inventory) => {
    if (await confirm({ message: "Try the mapping against the live feed now?", default: true }, terminal)) {
      const tried = await previewConnector(options, connector, inventory).then(
        (preview) => ({ preview }),
        (error: unknown) => {
          // A connector the SDK refuses would be refused on save too: stop here.
          if (error instanceof InvalidInput) throw error
          return { error: error instanceof Error ? error.message : String(error) }
        }
      )
      if ("preview" in tried) note(renderPreview(tried.preview))
      else note(`The feed could not be read: ${tried.error}`)
      const save = await confirm(
        { message: `Save supplier ${id}${"error" in tried ? " anyway" : ""}?`, default: "preview" in tried },
        terminal
      )
      if (!save) {
        note("Nothing was saved.")
        return
      }
    }
    const supplier = await inventory.suppliers.add({
      id,
      name,
      connector,
      schedule: clearableText(schedule) ?? null,
      createMissingProducts,
      leadTimeDays: optionalNumberArgument(options.leadTimeDays, "leadTimeDays")
    })
    printSupplier(supplier, options.json)
    if (!options.json)
      note(`Added supplier ${supplier.id}. Sync its catalog now with: inv supplier sync ${supplier.id}`)
  })
}
