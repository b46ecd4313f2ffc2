/**
 * Device class for Partnerize's `device` parameter (FAQ Q9), from a user agent.
 * ua-parser-js 1.x (MIT; 2.x is AGPL) classifies phones and tablets, isbot recognises crawlers and
 * HTTP libraries; both are small, maintained and dependency-free.
 */
import { isbot } from 'isbot';
import UAParser from 'ua-parser-js';
import type { Device } from './fields.js';

const DESKTOP_OS = /^(windows|mac os|macos|linux|ubuntu|debian|fedora|chromium os|chrome os|freebsd|openbsd|netbsd|solaris)/i;

export function deviceFromUserAgent(userAgent: string | undefined): Device | undefined {
  if (userAgent === undefined || userAgent.trim() === '') return undefined;
  if (isbot(userAgent)) return 'bot';
  const parsed = new UAParser(userAgent);
  const type = parsed.getDevice().type;
  if (type === 'mobile' || type === 'wearable') return 'mobile';
  if (type === 'tablet') return 'tablet';
  if (type !== undefined) return 'other';
  return DESKTOP_OS.test(parsed.getOS().name ?? '') ? 'desktop' : 'other';
}
