// Gauges read from the CA and the federation status when /metrics is scraped: relationship state,
// partner bundle age, sequence, staleness and expiry, our authorities and the bundle we publish.
import {
  AUTHORITY_KINDS,
  AUTHORITY_STATES,
  PUBLISHED_STATES,
  type AuthorityMetadata,
  type Ca,
} from '../../ca/index.js';
import type { Federation, RelationshipView } from '../../federation/index.js';
import type { BrokerMetrics } from './broker-metrics.js';
import type { MetricsRegistry, Scrape } from './registry.js';

export interface StateSources {
  readonly ca: Pick<Ca, 'authorities' | 'localBundle'>;
  readonly federation: Pick<Federation, 'list'>;
  readonly now: () => number;
}

function earliest(authorities: readonly AuthorityMetadata[]): number | undefined {
  const times = authorities.map((a) => a.notAfter.getTime());
  return times.length === 0 ? undefined : Math.min(...times);
}

/** Gauges read from the CA and the federation status when scraped. Register once per registry. */
export function registerStateCollectors(metrics: BrokerMetrics, sources: StateSources): void {
  registerPartnerCollectors(metrics.registry, sources);
  registerCaCollectors(metrics.registry, sources);
}

/** Per partner trust domain, from one `federation.list()` per scrape. */
function registerPartnerCollectors(registry: MetricsRegistry, sources: StateSources): void {
  const relationships = (scrape: Scrape): Promise<RelationshipView[]> =>
    scrape.once('relationships', () => sources.federation.list());
  const perPartner = (
    name: string,
    help: string,
    value: (view: RelationshipView) => number | null,
  ): void =>
    registry.collect(name, help, 'gauge', ['trust_domain'], async (scrape) =>
      (await relationships(scrape)).flatMap((view) => {
        const v = value(view);
        return v === null
          ? []
          : [{ labels: { trust_domain: view.relationship.trustDomain }, value: v }];
      }),
    );

  registry.collect(
    'fedbroker_partner_relationship_state',
    'Federation relationships: 1 for the current state of each partner trust domain.',
    'gauge',
    ['trust_domain', 'state'],
    async (scrape) =>
      (await relationships(scrape)).map((view) => ({
        labels: { trust_domain: view.relationship.trustDomain, state: view.relationship.state },
        value: 1,
      })),
  );
  perPartner(
    'fedbroker_partner_bundle_age_seconds',
    'Seconds since the partner bundle was last fetched and confirmed (any replica); absent before the first success.',
    (view) =>
      view.status.lastSuccessAtMs === null
        ? null
        : Math.max(0, (sources.now() - view.status.lastSuccessAtMs) / 1000),
  );
  perPartner(
    'fedbroker_partner_bundle_sequence',
    'spiffe_sequence of the partner bundle held (precision is lost above 2^53).',
    (view) => (view.status.sequence === null ? null : Number(view.status.sequence)),
  );
  perPartner(
    'fedbroker_partner_bundle_stale',
    '1 when the partner bundle is stale by the refresh policy (FED-42), else 0.',
    (view) => (view.status.stale ? 1 : 0),
  );
  perPartner(
    'fedbroker_partner_refresh_consecutive_failures',
    'Refresh failures since the last success, across replicas.',
    (view) => view.status.consecutiveFailures,
  );
  perPartner(
    'fedbroker_partner_authority_earliest_expiry_timestamp_seconds',
    'Earliest notAfter (unix seconds) among the X.509 authorities of the partner bundle held.',
    (view) =>
      view.status.earliestAuthorityExpiryMs === null
        ? null
        : view.status.earliestAuthorityExpiryMs / 1000,
  );
}

/** Our CA's authorities and the bundle we publish. */
function registerCaCollectors(registry: MetricsRegistry, sources: StateSources): void {
  registry.collect(
    'fedbroker_ca_authorities',
    'Authorities of our CA, by kind and state.',
    'gauge',
    ['kind', 'state'],
    () => {
      const all = sources.ca.authorities();
      return AUTHORITY_KINDS.flatMap((kind) =>
        AUTHORITY_STATES.map((state) => ({
          labels: { kind, state },
          value: all.filter((a) => a.kind === kind && a.state === state).length,
        })),
      );
    },
  );
  registry.collect(
    'fedbroker_ca_earliest_authority_expiry_timestamp_seconds',
    'Earliest notAfter (unix seconds) among our unexpired published authorities, by kind.',
    'gauge',
    ['kind'],
    () => {
      const nowMs = sources.now();
      return AUTHORITY_KINDS.flatMap((kind) => {
        const at = earliest(
          sources.ca
            .authorities(kind)
            .filter((a) => PUBLISHED_STATES.has(a.state) && a.notAfter.getTime() > nowMs),
        );
        return at === undefined ? [] : [{ labels: { kind }, value: at / 1000 }];
      });
    },
  );
  registry.collect(
    'fedbroker_ca_active_authority_expiry_timestamp_seconds',
    'notAfter (unix seconds) of the active authority of our CA, by kind.',
    'gauge',
    ['kind'],
    () =>
      AUTHORITY_KINDS.flatMap((kind) => {
        const at = earliest(sources.ca.authorities(kind).filter((a) => a.state === 'active'));
        return at === undefined ? [] : [{ labels: { kind }, value: at / 1000 }];
      }),
  );
  registry.collect(
    'fedbroker_local_bundle_sequence',
    'spiffe_sequence of the bundle we publish.',
    'gauge',
    [],
    () => {
      const sequence = sources.ca.localBundle().sequence;
      return sequence === undefined ? [] : [{ labels: {}, value: Number(sequence) }];
    },
  );
}
