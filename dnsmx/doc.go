// Package dnsmx answers the DNS questions of mail delivery with typed
// results: where a domain takes mail (MX, with the null MX and implicit MX
// rules), the addresses of each host, DANE TLSA records, MTA-STS and TLS-RPT
// records and policies, SPF and DMARC records, PTR names and DNS
// blocklists.
//
// Go's standard resolver cannot tell "domain does not exist" from "no MX
// record" from "DNS is broken"; a mail server must, to bounce at once or
// retry later. Every error here is an [*Error] saying which, and whether it
// is permanent:
//
//	res, err := r.LookupMX(ctx, "example.com")
//	switch {
//	case errors.Is(err, dnsmx.ErrNullMX):    // 556 5.1.10: the domain takes no mail
//	case dnsmx.IsPermanent(err):             // bounce (NXDOMAIN, no mail host, ...)
//	case err != nil:                         // temporary: queue and retry
//	}
//
// A [Resolver] talks to recursive nameservers with github.com/miekg/dns; the
// [Lookuper] interface lets callers substitute their own. The record helpers
// ([LookupSPF], [LookupDMARC], [LookupMTASTS], [LookupTLSRPT],
// [LookupFCrDNS], [IsListed]) and [STS] work over any Lookuper. Package
// dnstest runs a loopback DNS server from a zone in text, for tests.
//
// # Standards
//
//   - RFC 5321 §5.1: MX lookup, preference order with random order among
//     equal preferences, CNAME at the domain followed, the implicit MX,
//     errors for no usable host; IP-address MX targets are refused. MX
//     targets that are CNAMEs are followed although §5.1 and RFC 2181
//     §10.3 disallow them, as every MTA does.
//   - RFC 7505 §3, §4: null MX ("MX 0 .") as a permanent "accepts no
//     mail".
//   - RFC 1035 §3.3, §4 and RFC 2181 §5, §8, §10: messages, TTLs (capped at
//     MaxTTL), CNAME chains (bounded by Resolver.MaxCNAME, loops detected).
//   - RFC 2308 §5: negative caching with the SOA TTL and MINIMUM, capped at
//     MaxNegativeTTL.
//   - RFC 6891: EDNS0 with a 1232-octet UDP size; RFC 7766 §5 TCP retry
//     when an answer is truncated; RFC 5452 §9.1 answers checked against
//     the question and ID.
//   - RFC 4035 §3.2.3 and RFC 6840 §5.7: the AD bit requested in queries and
//     reported as Authentic on results; validation itself is left to the
//     recursive resolver, which must be trusted (on the same host or a
//     trusted network).
//   - RFC 6698 §2.1 TLSA record fields and §3 names; RFC 7672 §2.2 the
//     DANE outcomes (authenticated records, authenticated denial,
//     insecure, temporary failure) and §3.1 which usages SMTP can use.
//   - RFC 8461 §3.1 MTA-STS TXT record, §3.2 policy syntax, §3.3 HTTPS
//     fetch rules (no redirects, text/plain, 64 KiB), §4.1 MX matching,
//     §5.1 caching for max_age and falling back to a cached policy.
//   - RFC 8460 §3: TLS-RPT record.
//   - RFC 7208 §3.3, §4.5: SPF record selection; RFC 7489 §6.6.3: DMARC
//     record selection.
//   - RFC 1035 §3.5 and RFC 3596 §2.5 reverse names; RFC 5782 §2 DNSBL
//     queries.
//   - RFC 5890/5891 (IDNA2008, UTS #46 mapping) with golang.org/x/net/idna:
//     U-label domains are converted to A-labels before lookup.
//
// # Not implemented
//
// DNSSEC validation (the AD bit of the recursive resolver is trusted),
// DNS over TLS or HTTPS, the RFC 7672 §2.2.2 TLSA lookup at the
// CNAME-expanded host name (the caller has NextHop.Canonical for it),
// matching certificates against TLSA records, SPF and DMARC evaluation and
// the DMARC organizational-domain fallback (package relay), proactive
// MTA-STS policy refresh (RFC 8461 §10.2), rate limiting of MTA-STS
// fetches, sending TLS reports, SRV records and the search list or ndots
// of resolv.conf (mail domains are fully qualified, RFC 5321 §5.1).
package dnsmx
