/**
 * What a postback body is: which shape it has (native or a tag manager's event), what its event
 * name says, and the order it holds, mapped onto the native shape and validated. Errors name the
 * field as the sender spelled it.
 */
import { InputError } from './errors.js';
import type { TrackerConfig } from './model.js';
import type { ConversionItem } from './partnerize-url.js';
import type { OrderEvent, OrderSource, OrderSourceMapper } from './order-source.js';
import { ga4Clicks, ga4Orders } from './ga4.js';
import { formatPath, OrderSchema, parseWith, type Order } from './schema.js';
import { rudderstackOrders, segmentClicks, segmentOrders } from './segment.js';
import type { ClickSource, Mapped } from './source-mapping.js';
import { tealiumClicks, tealiumOrders } from './tealium.js';

/** What the source mappers need from the configuration: each reads its own part of it. */
export type SourceConfig = Pick<TrackerConfig, 'mapping' | 'consentCategories' | 'ga4Paths' | 'segmentPaths' | 'segmentConsentCategories'>;

/**
 * The recognisers, in the order they are tried: Tealium (an object at `data.udo`), RudderStack (a
 * Segment call type with RudderStack's `rudderId` or `request_ip`), Segment (`type` is a Segment
 * call type: track, page, screen, identify, group, alias), GA4 (a string `event_name`; or `event`
 * beside `transaction_id` and no `orderId`). None of them matches a native body.
 */
export const ORDER_SOURCES: readonly OrderSourceMapper<SourceConfig>[] = [tealiumOrders, rudderstackOrders, segmentOrders, ga4Orders];

/** Which source reads `body`: the first whose rule matches, else native. */
export const sourceOf = (body: object): OrderSource => ORDER_SOURCES.find((s) => s.recognises(body))?.source ?? 'native';

/** The click shapes other than the native one, tried in this order (rules as above). */
export const CLICK_SOURCES: readonly ClickSource<SourceConfig>[] = [tealiumClicks, segmentClicks, ga4Clicks];

/** A click body mapped onto the native click shape (a body no rule matches is native). */
export function readClick(body: object, config: SourceConfig): Mapped {
  const source = CLICK_SOURCES.find((s) => s.recognises(body));
  return source ? source.read(body, config) : { native: body as Record<string, unknown>, rename: formatPath };
}

/**
 * A body that is a list carries one event per element (Segment's batching, Stape's "inside array"
 * option): a list of one is that event; a longer one is refused, since each order needs its own answer.
 */
export function singleEvent(body: unknown): unknown {
  if (!Array.isArray(body) || body.length === 0) return body;
  if (body.length === 1) return body[0];
  throw new InputError('batch_not_supported', `body is a list of ${body.length} events: send one per request (turn batching off)`, 'body');
}

/** Reads the shape and the event name of a postback body (an object). */
export function readOrderEvent(body: object, config: SourceConfig): OrderEvent {
  const mapper = ORDER_SOURCES.find((s) => s.recognises(body));
  if (mapper) return mapper.read(body, config);
  return { source: 'native', name: (body as Record<string, unknown>)['event'], native: body, rename: formatPath, nameField: 'event' };
}

/** Event names compare trimmed and case-insensitively: `" Purchase"` is `purchase`. */
export const normaliseEventName = (name: string): string => name.trim().toLowerCase();

export type PurchaseCheck = { fires: true } | { fires: false; reason: string };

/**
 * Only configured purchase events fire. A native body without `event` is an order (a server that
 * posts only orders need not name them); a tag manager's event always has a name.
 */
export function checkPurchase(event: OrderEvent, purchaseEvents: readonly string[]): PurchaseCheck {
  const { name, source, nameField } = event;
  if (event.intent === 'purchase') return { fires: true };
  if (event.intent === 'ignore')
    return { fires: false, reason: `${nameField} '${String(name).slice(0, 64)}' is not an order event of this source` };
  // A source's refund or cancellation is an order update (core/order-updates.ts), never a purchase.
  if (event.intent !== undefined)
    return { fires: false, reason: `${nameField} '${String(name).slice(0, 64)}' is an order update (${event.intent})` };
  const blank = name === undefined || name === null || (typeof name === 'string' && name.trim() === '');
  if (blank) return source === 'native' ? { fires: true } : { fires: false, reason: `the event has no name at ${nameField}` };
  if (typeof name !== 'string') return { fires: false, reason: `${nameField} is not a string` };
  if (purchaseEvents.some((p) => normaliseEventName(p) === normaliseEventName(name))) return { fires: true };
  return { fires: false, reason: `${nameField} '${name.slice(0, 64)}' is not a purchase event` };
}

/** Validates the mapped order; every failure names the sender's field. */
export const parseOrder = (event: OrderEvent): Order => parseWith(OrderSchema, event.native, event.rename);

/**
 * The items Partnerize gets: the order's own, or — for checkouts that only know the total
 * (subscriptions, gift cards) — one item of quantity 1 worth the total, in `totalCategory`.
 */
export function orderItems(order: Order, totalCategory: string, rename: OrderEvent['rename']): ConversionItem[] {
  if (order.items && order.items.length > 0) return order.items;
  if (order.value !== undefined) return [{ value: order.value, quantity: 1, ...(totalCategory ? { category: totalCategory } : {}) }];
  const field = rename(['items']);
  throw new InputError('missing_field', `${field} is required: send the order's items, or only its total as ${rename(['value'])}`, field);
}
