/**
 * Structured JSON logs through Powertools Logger. Lines carry ids (conversionRef, status codes),
 * never tokens, IPs, user agents or whole payloads.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { Log } from '../core/model.js';

export const logger = new Logger({ serviceName: process.env['POWERTOOLS_SERVICE_NAME'] ?? 'partnerize-s2s' });

export const powertoolsLog = (l: Logger = logger): Log => ({
  info: (message, fields) => l.info(message, fields ?? {}),
  warn: (message, fields) => l.warn(message, fields ?? {}),
  error: (message, fields) => l.error(message, fields ?? {}),
});

export const silentLog: Log = { info: () => {}, warn: () => {}, error: () => {} };
