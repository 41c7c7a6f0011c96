import KXOver

/// The metric families kxoverd exports, and one method per event that
/// counts. Names follow Prometheus conventions (`_total`, `_seconds`).
public final class DaemonMetrics {
    public let registry = Metrics()

    public init() {
        registry.declare("kxover_exchanges_total", .counter,
                         "Crossover exchanges finished, by side (client/server) and outcome (success/failure).")
        registry.declare("kxover_exchange_failures_total", .counter,
                         "Failed exchanges by side, the stage that failed and the KXOVER error code.")
        registry.declare("kxover_exchange_duration_seconds", .histogram,
                         "Wall time of finished exchanges, by side and outcome.")
        registry.declare("kxover_stage_duration_seconds", .histogram,
                         "Time spent in each stage of an exchange (C0-C11 client, S1-S8 server), including the stage that failed.")
        registry.declare("kxover_exchange_requests_total", .counter,
                         "Requests for exchanges: started, joined (an exchange already running), backed_off (refused during failure backoff), refused_by_limits (max_exchanges_in_flight or max_exchanges_per_minute, either side), reciprocal (started after serving a peer, reciprocal = true), starttls_per_source (a STARTTLS word over max_starttls_per_source_per_minute), zone_new_realms and zone_exchanges (an authenticated peer over its DNS zone's share: max_new_realms_per_zone, max_exchanges_per_zone_per_minute; either side).")
        registry.declare("kxover_dns_answers_total", .counter,
                         "DNS answers by record type and class: secure, insecure, bogus, nxdomain (authenticated denial), failure (timeout, resolver error).")
        registry.declare("kxover_key_writes_total", .counter,
                         "Crossover key writes by local realm and outcome (written, already_present, failed).")
        registry.declare("kxover_keys_pruned_total", .counter,
                         "Expired crossover kvnos removed from the KDB, by local realm.")
        registry.declare("kxover_renewals_total", .counter,
                         "Renewal exchanges started before a key's till, by outcome (started, success, failure).")
        registry.declare("kxover_reloads_total", .counter,
                         "SIGHUP reloads by outcome (applied, rejected).")
        registry.declare("kxover_refusals_sent_total", .counter,
                         "Refusals told to peers, by KXOVER code: a KRB-ERROR after KX-REQ or at the STARTTLS word; TLS for a peer certificate refused with a TLS alert.")
        registry.declare("kxover_refusals_received_total", .counter,
                         "Refusals peers told us, by KXOVER code (a KRB-ERROR in place of KX-REP or of the STARTTLS answer; TLS for a TLS alert; REFUSED for a code we do not know).")
        registry.declare("kxover_policy_refusals_total", .counter,
                         "Crossovers the peer policy refused, by local realm, direction (incoming, outgoing) and rule (direction_off, denied, not_allowed).")
    }

    public func policyRefused(local: String, _ direction: PeerPolicy.Direction, rule: PeerPolicy.Rule) {
        registry.increment("kxover_policy_refusals_total", [("realm", local), ("direction", direction.rawValue), ("rule", rule.rawValue)])
    }

    public func refusal(sent code: KXError.Code) {
        registry.increment("kxover_refusals_sent_total", [("code", code.rawValue)])
    }

    public func refusal(received code: KXError.Code) {
        registry.increment("kxover_refusals_received_total", [("code", code.rawValue)])
    }

    public func requested(_ how: String) {
        registry.increment("kxover_exchange_requests_total", [("how", how)])
    }

    public func exchangeFinished(side: String, failure: (stage: String, code: String)?, seconds: Double) {
        let outcome = failure == nil ? "success" : "failure"
        registry.increment("kxover_exchanges_total", [("side", side), ("outcome", outcome)])
        registry.observe("kxover_exchange_duration_seconds", [("side", side), ("outcome", outcome)], seconds: seconds)
        if let failure {
            registry.increment("kxover_exchange_failures_total", [("side", side), ("stage", failure.stage), ("code", failure.code)])
        }
    }

    public func stageEnded(side: String, stage: String, seconds: Double) {
        registry.observe("kxover_stage_duration_seconds", [("side", side), ("stage", stage)], seconds: seconds)
    }

    public func dnsAnswer(_ type: DNSRecordType, _ result: Result<DNSAnswer, DNSFailure>) {
        let kind: String
        switch result {
        case .failure(.cancelled): return
        case .failure: kind = "failure"
        case .success(let answer):
            switch answer.security {
            case .bogus: kind = "bogus"
            case .insecure: kind = "insecure"
            case .secure: kind = answer.rdata.isEmpty ? "nxdomain" : "secure"
            }
        }
        registry.increment("kxover_dns_answers_total", [("type", type.description), ("class", kind)])
    }

    public func keyWrite(realm: String, _ result: Result<KeyWriteOutcome, KXError>) {
        let outcome: String
        switch result {
        case .success(.written): outcome = "written"
        case .success(.alreadyPresent): outcome = "already_present"
        case .failure: outcome = "failed"
        }
        registry.increment("kxover_key_writes_total", [("realm", realm), ("outcome", outcome)])
    }

    public func pruned(realm: String, count: Int) {
        registry.increment("kxover_keys_pruned_total", [("realm", realm)], by: Double(count))
    }

    public func renewal(_ outcome: String) {
        registry.increment("kxover_renewals_total", [("outcome", outcome)])
    }

    public func reload(applied: Bool) {
        registry.increment("kxover_reloads_total", [("outcome", applied ? "applied" : "rejected")])
    }
}
