// Request pieces more than one admin resource reads: the partner trust domain path parameter, the
// bundle format query and an optional audit reason.
import { z } from 'zod';
import { trustDomainParam } from '../validate.js';

// Path parameters are checked before any handler or store call (issue 15, finding 12).
export const tdParams = z.object({ td: trustDomainParam.describe('partner trust domain name') });

export const bundleFormatQuery = z.object({
  format: z
    .enum(['spiffe', 'pem'])
    .default('spiffe')
    .describe('spiffe: SPIFFE bundle JSON; pem: the X.509 authorities as PEM'),
});

/** The body of a relationship transition: an optional reason, kept in the audit log. */
export const reasonBody = z.object({ reason: z.string().max(500).optional() }).strict();
