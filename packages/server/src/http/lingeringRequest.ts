/**
 * A request body cut off at INV_MAX_BODY_BYTES must still get its 413. The platform's body reader
 * destroys the request stream when the limit is passed, which on Node resets the socket before
 * any answer is written; this request class instead drains and discards the rest, so the 413
 * goes out (the server's request timeout bounds how long the discarding may take).
 */
import { IncomingMessage } from "node:http"

export class LingeringIncomingMessage extends IncomingMessage {
  override destroy(error?: Error): this {
    if (error === undefined && !this.complete) {
      this.removeAllListeners("data")
      this.resume()
      return this
    }
    return super.destroy(error)
  }
}
