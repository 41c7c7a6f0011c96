import Foundation
import KXKDB

/// What the control socket answers: `kxover status` in text or JSON, and the
/// metrics text for those without an HTTP scraper.
extension Daemon {
    func answer(_ command: String) -> String {
        switch command {
        case "status": return statusText()
        case "status json": return statusJSON()
        case "metrics": return metrics.registry.render()
        case let line where line.hasPrefix(ControlClient.revokedPrefix):
            guard let principal = KadminSession.parsePrincipal(String(line.dropFirst(ControlClient.revokedPrefix.count))) else {
                return "error: not a crossover principal\n"
            }
            return engine.keyRemoved(principal) + "\n"
        default: return "error: unknown command\n"
        }
    }

    func statusText() -> String {
        let status = engine.status()
        let front = frontEnd.counters
        let keys = maintainer.totals
        var lines = [
            "kxoverd \(getpid()), up \(Self.duration(Date().timeIntervalSince(started))), configuration \(configuration.path) (reloaded \(reloads)x)",
            "realms: \(engine.localRealms.sorted().joined(separator: ", "))" + (engine.draining ? "  [draining: no new exchanges]" : ""),
            "front end: \(configuration.listen.joined(separator: " ")) → krb5kdc \(configuration.backendKDC ?? "?"); relayed \(front.udpRequests) UDP, \(front.tcpRequests) TCP requests, \(front.relayErrors) relay errors",
            "exchanges in flight: \(status.running.count)",
        ]
        lines += status.running.map { "  \($0.id)  \($0.what)  at \($0.stage)  for \(String(format: "%.1f", $0.seconds)) s" }
        lines.append("realm pairs in failure backoff: \(status.backoffs.count)")
        lines += status.backoffs.map { "  \($0.pair)  failed \($0.failures)x, next attempt in \(Int($0.retryIn.rounded(.up))) s: \($0.error)" }
        let c = status.counters
        lines.append("exchanges: client \(c.clientSucceeded) ok, \(c.clientFailed) failed (\(c.joined) joined, \(c.negativeCacheHits) refused in backoff); server \(c.serverSucceeded) ok, \(c.serverFailed) failed; \(c.refusedByLimits) refused by the limits (\(engine.admission.maxInFlight) in flight, \(engine.admission.perMinute)/min)")
        let next = maintainer.nextCheck.map { "next in \(Int(max(0, $0.timeIntervalSinceNow).rounded(.up))) s" } ?? "stopped"
        lines.append("key checks: \(keys.checks) (\(next), every \(configuration.keyCheckInterval) s); pruned \(keys.pruned) kvnos; renewals \(keys.renewalsSucceeded) ok, \(keys.renewalsFailed) failed of \(keys.renewalsStarted); problems \(keys.problems)")
        lines.append("recent outcomes (newest last):")
        lines += status.recent.suffix(20).map { "  \(Self.timestamp($0.at))  \($0.line)" }
        if status.recent.isEmpty { lines.append("  (none yet)") }
        return lines.joined(separator: "\n") + "\n"
    }

    func statusJSON() -> String {
        let status = engine.status()
        let c = status.counters
        let keys = maintainer.totals
        let object: [String: Any] = [
            "pid": Int(getpid()),
            "uptime_seconds": Int(Date().timeIntervalSince(started)),
            "configuration": configuration.path,
            "reloads": reloads,
            "draining": engine.draining,
            "realms": engine.localRealms.sorted(),
            "in_flight": status.running.map { ["id": $0.id, "exchange": $0.what, "stage": $0.stage, "seconds": $0.seconds] },
            "backoff": status.backoffs.map { ["pair": $0.pair, "failures": $0.failures, "retry_in_seconds": $0.retryIn, "error": $0.error] },
            "exchanges": ["client_ok": c.clientSucceeded, "client_failed": c.clientFailed, "joined": c.joined,
                          "refused_in_backoff": c.negativeCacheHits, "server_ok": c.serverSucceeded, "server_failed": c.serverFailed,
                          "refused_by_limits": c.refusedByLimits],
            "keys": ["checks": keys.checks, "pruned": keys.pruned, "renewals_ok": keys.renewalsSucceeded,
                     "renewals_failed": keys.renewalsFailed, "problems": keys.problems],
            "recent": status.recent.suffix(20).map { ["at": Self.timestamp($0.at), "outcome": $0.line] },
        ]
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]) else { return "{}\n" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    static func timestamp(_ seconds: Double) -> String {
        let formatter = ISO8601DateFormatter()
        return formatter.string(from: Date(timeIntervalSince1970: seconds))
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds)
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(s % 60)s" }
        if s < 86400 { return "\(s / 3600)h\(s % 3600 / 60)m" }
        return "\(s / 86400)d\(s % 86400 / 3600)h"
    }

    /// Families whose values live elsewhere (front end, hostrealm socket, engine), read at scrape time.
    func declareStateMetrics() {
        let registry = metrics.registry
        registry.declare("kxover_relay_requests_total", .counter, "KDC requests relayed to krb5kdc, by transport.") { [weak self] in
            guard let counters = self?.frontEnd.counters else { return [] }
            return [("transport=\"udp\"", Double(counters.udpRequests)), ("transport=\"tcp\"", Double(counters.tcpRequests))]
        }
        registry.declare("kxover_relay_replies_total", .counter, "Replies handed to KDC clients, by transport.") { [weak self] in
            guard let counters = self?.frontEnd.counters else { return [] }
            return [("transport=\"udp\"", Double(counters.udpReplies)), ("transport=\"tcp\"", Double(counters.tcpReplies))]
        }
        registry.declare("kxover_relay_events_total", .counter,
                         "Front-end events: relay errors, refusals, STARTTLS handoffs, held requests, absorbed retries, overload drops.") { [weak self] in
            guard let c = self?.frontEnd.counters else { return [] }
            let events: [(String, Int)] = [
                ("relay_error", c.relayErrors), ("refusal", c.refusals), ("protocol_disconnect", c.protocolDisconnects),
                ("starttls_handoff", c.startTLSHandoffs), ("held_before_backend", c.heldBeforeBackend),
                ("absorbed_retry", c.absorbedRetries), ("replay", c.replays), ("hold_expired", c.holdsExpired),
                ("udp_overload_drop", c.udpOverloadDrops), ("accept_pause", c.acceptPauses), ("idle_eviction", c.idleEvictions),
                ("client_send_error", c.clientSendErrors),
            ]
            return events.map { ("event=\"\($0.0)\"", Double($0.1)) }
        }
        registry.declare("kxover_exchanges_in_flight", .gauge, "Exchanges running now (client and server side).") { [weak self] in
            [("", Double(self?.engine.exchangesInFlight ?? 0))]
        }
        registry.declare("kxover_hostrealm_answers_total", .counter,
                         "Answers to krb5kdc's hostrealm module: realm, refusal (no realm vouched for by DNSSEC), miss (not in the cache: no, looked up for the next question), malformed, busy, timeout.") { [weak self] in
            guard let c = self?.hostRealmServer?.counters else { return [] }
            return [("answer=\"realm\"", Double(c.realms)), ("answer=\"refusal\"", Double(c.refusals)), ("answer=\"miss\"", Double(c.misses)), ("answer=\"malformed\"", Double(c.malformed)),
                    ("answer=\"busy\"", Double(c.busy)), ("answer=\"timeout\"", Double(c.timeouts))]
        }
    }
}
