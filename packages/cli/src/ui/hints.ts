/**
 * What to type next, after the SDK's own advice: the SDK's messages speak of its options and
 * calls, the CLI adds its commands and flags. Keyed by error tag; kept free of SDK imports, as the
 * failure printing is loaded for every command.
 */
type Details = Readonly<Record<string, unknown>>

const hints: Readonly<Record<string, (error: Details) => string>> = {
  ProductNotFound: ({ sku }) => `inv product add ${sku} --name …`,
  LocationNotFound: ({ location }) => `inv location add ${location}`,
  SupplierNotFound: () => "inv supplier list, or inv supplier add",
  SupplierInUse: ({ supplierId }) => `inv restock list --supplier ${supplierId}`,
  RestockOrderNotFound: () => "inv restock list",
  ReservationNotFound: () => "inv reservation list",
  InsufficientStock: ({ sku, reserved }) =>
    reserved === undefined
      ? ""
      : `inv reservation list --sku ${sku} --status active, or --release-holds to release the newest holds`,
  OverDelivery: ({ outstanding }) =>
    `--quantity ${outstanding}, or --allow-over-delivery to accept the extra units`,
  Unauthorized: () =>
    "--token, INV_TOKEN or inv login; an operator mints a token with inv-server token create"
}

export const hintFor = (tag: string | undefined, error: Details): string | undefined =>
  tag === undefined ? undefined : hints[tag]?.(error) || undefined
