/**
 * An example module handler: `hurah run image_scaler product/created examples/image_scaler.ts <root>`.
 * Products with an id succeed, products without one are INVALID.
 */
import { Handler, Task, type TaskContext, type TaskResult } from "../mod.ts";

export default class ImageScaler extends Handler {
  override maxAttempts(): number {
    return 2;
  }

  handleTask(context: TaskContext): TaskResult {
    const payload = context.payload as { product_id?: unknown } | null;
    if (typeof payload?.product_id !== "number") return Task.INVALID;
    console.error(`image_scaler: scaling images of product ${payload.product_id}`);
    return Task.SUCCESS;
  }
}
