/**
 * What an order event is once read, whatever its source: the vocabulary that the reader
 * (order-events.ts), the source mappers (tealium.ts, ga4.ts, segment.ts) and the records
 * (model.ts) share. Types only, importing nothing: the mappers, which the settings resolve at
 * start, never reach back to the configuration or the records through it.
 */

export type OrderSource = 'native' | 'tealium' | 'ga4' | 'segment' | 'rudderstack';

export interface OrderEvent {
  source: OrderSource;
  /** The event name as sent (undefined when the body has none). */
  name: unknown;
  /** The body in the native shape, and how to name a native path in the sender's vocabulary. */
  native: unknown;
  rename: (path: ReadonlyArray<PropertyKey>) => string;
  /** Where the event name is read, for messages. */
  nameField: string;
  /**
   * What the event means, when the source's own specification fixes it (GA4's `purchase`, Segment's
   * `Order Completed`): then the configured purchase event names do not apply. Absent for sources
   * whose event names are the brand's own (Tealium's data layer, the native shape).
   */
  intent?: EventIntent | undefined;
  /** With `intent`: the event names the source's specification makes a purchase, for an `ignored` answer. */
  purchaseNames?: readonly string[] | undefined;
}

/**
 * What an order event asks for: a purchase, nothing, or an update of an order (core/order-updates.ts),
 * whose `native` body is then the native update shape `{event, orderId, reason?, items?: [{sku, quantity, value}]}`.
 */
export type EventIntent = 'purchase' | 'ignore' | 'cancel' | 'refund' | 'return' | 'approve';

/**
 * A shape of order event other than the native one: a documented rule that recognises it, and the
 * mapper that turns it into the native shape. One module per source (tealium.ts, …), each reading
 * only its part `C` of the configuration; the first source whose rule matches reads the body, and a
 * body no rule matches is native (order-events.ts).
 */
export interface OrderSourceMapper<C> {
  source: Exclude<OrderSource, 'native'>;
  recognises(body: object): boolean;
  read(body: object, config: C): OrderEvent;
}
