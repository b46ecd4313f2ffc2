/**
 * Device class for Partnerize's `device` parameter (support question Q9, docs/support-questions.md), from a user agent.
 * `isbot` recognises crawlers and HTTP libraries; `is-mobile` tells phones from tablets. Both are
 * tiny, maintained and dependency-free (ua-parser-js did the same job for 20 KB of bundle, 6% of
 * the functions' size budget; see docs/performance.md).
 */
import { isbot } from 'isbot';
import { isMobile } from 'is-mobile';
import type { Device } from './fields.js';

/** TVs, consoles, set-top boxes and cars: not desktops even when they run Linux. */
const OTHER =
  /smart-?tv|smarttv|tizen|web0?os|hbbtv|netcast|viera|bravia|roku|crkey|apple ?tv|googletv|android tv|\bAFT[A-Z]|playstation|xbox|nintendo|oculus|quest|tesla|kaios/i;
const DESKTOP = /windows nt|macintosh|mac os x|x11|linux|cros/i;

/** User agents repeat (a few browser versions carry most traffic): remember the last few hundred. */
const cache = new Map<string, Device>();
const CACHE_SIZE = 512;

export function deviceFromUserAgent(userAgent: string | undefined): Device | undefined {
  if (userAgent === undefined || userAgent.trim() === '') return undefined;
  let device = cache.get(userAgent);
  if (device === undefined) {
    device = classify(userAgent);
    if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value as string);
    cache.set(userAgent, device);
  }
  return device;
}

function classify(userAgent: string): Device {
  if (isbot(userAgent)) return 'bot';
  if (OTHER.test(userAgent)) return 'other';
  if (isMobile({ ua: userAgent })) return 'mobile';
  if (isMobile({ ua: userAgent, tablet: true })) return 'tablet';
  return DESKTOP.test(userAgent) ? 'desktop' : 'other';
}
