import CGnuTLS
import Foundation

/// DANE (RFC 6698/7671) for a peer's chain with TLSA data we already have:
/// dane_raw_tlsa + dane_verify_crt_raw, one record at a time, so one
/// unusable record cannot veto another that matches. Only DANE-TA(2) and
/// DANE-EE(3) count; PKIX usages would need path validation we do not do.
final class DANEVerifier: @unchecked Sendable {
    private var state: dane_state_t?
    /// libdane's state is used read-only, but nothing promises it is thread-safe.
    private let lock = NSLock()
    /// Chains already seen to match a record (under `lock`). A match depends
    /// only on the chain's bytes and the record (validity periods are
    /// checked apart, on every handshake), so a peer seen again costs a
    /// lookup instead of libdane's certificate parsing. Only matches are
    /// kept: a refusal may have been about time. Bounded; emptied when full.
    private var matches: Set<Match> = []
    static let matchesKept = 256

    private struct Match: Hashable {
        let record: [UInt8]
        let chain: [[UInt8]]
    }

    init() throws {
        // No resolver inside libdane: TLSA records come from our TLSAResolver.
        let flags = UInt32(DANE_F_IGNORE_DNSSEC.rawValue | DANE_F_IGNORE_LOCAL_RESOLVER.rawValue)
        let created = dane_state_init(&state, flags)
        guard created == 0, state != nil else { throw TLSPoolSetupError("dane_state_init: \(GnuTLS.describeDANE(created))") }
    }

    deinit { dane_state_deinit(state) }

    enum Verdict: Equatable {
        case matched(TLSARecord)
        case refused(String)
    }

    /// Checks `chain` (DER, end entity first) against `lookup` for `host`.
    func verify(chain: [[UInt8]], host: String, lookup: TLSALookup) -> Verdict {
        let records: [TLSARecord]
        switch lookup {
        case .secure(let answer): records = answer
        case .insecure: return .refused("TLSA for \(host) is not DNSSEC-signed (insecure)")
        case .bogus(let why): return .refused("TLSA for \(host) failed DNSSEC validation (bogus: \(why))")
        case .failed(let why): return .refused("TLSA lookup for \(host) failed: \(why)")
        }
        let usable = records.filter(\.isDANEUsage)
        guard !usable.isEmpty else {
            return .refused(records.isEmpty ? "no TLSA record for \(host)"
                                            : "no DANE-TA or DANE-EE TLSA record for \(host) (only PKIX usages)")
        }
        guard !chain.isEmpty else { return .refused("no certificate to check against TLSA") }
        var reasons: [String] = []
        for record in usable {
            if record.usage == 2 && chain.count < 2 {
                reasons.append("DANE-TA needs the issuing certificate in the chain")
                continue
            }
            switch check(chain, against: record) {
            case nil: return .matched(record)
            case let reason?: reasons.append(reason)
            }
        }
        return .refused("certificate of \(host) does not match its TLSA: " + Set(reasons).sorted().joined(separator: "; "))
    }

    /// nil when `record` matches, else the reason.
    private func check(_ chain: [[UInt8]], against record: TLSARecord) -> String? {
        lock.lock()
        defer { lock.unlock() }
        let rdata = record.rdata
        let match = Match(record: rdata, chain: chain)
        if matches.contains(match) { return nil }
        let copy = UnsafeMutablePointer<CChar>.allocate(capacity: rdata.count)
        defer { copy.deallocate() }
        rdata.withUnsafeBytes { copy.update(from: $0.bindMemory(to: CChar.self).baseAddress!, count: rdata.count) }
        var entries: [UnsafeMutablePointer<CChar>?] = [copy, nil]
        var lengths: [Int32] = [Int32(rdata.count), 0]
        var query: dane_query_t?
        let parsed = dane_raw_tlsa(state, &query, &entries, &lengths, 1, 0)
        guard parsed == 0, let query else { return "unreadable TLSA record (\(GnuTLS.describeDANE(parsed)))" }
        defer { dane_query_deinit(query) }
        var status: UInt32 = 0
        let verified = GnuTLS.withDatums(chain) { datums, count in
            dane_verify_crt_raw(state, datums, UInt32(count), GNUTLS_CRT_X509, query, 0, 0, &status)
        }
        guard verified == 0 else { return GnuTLS.describeDANE(verified) }
        guard status == 0 else { return Self.describe(status) }
        if matches.count >= Self.matchesKept { matches.removeAll() }
        matches.insert(match)
        return nil
    }

    private static func describe(_ status: UInt32) -> String {
        var parts: [String] = []
        if status & UInt32(DANE_VERIFY_CA_CONSTRAINTS_VIOLATED.rawValue) != 0 { parts.append("CA constraints violated") }
        if status & UInt32(DANE_VERIFY_CERT_DIFFERS.rawValue) != 0 { parts.append("the certificate differs") }
        if status & UInt32(DANE_VERIFY_UNKNOWN_DANE_INFO.rawValue) != 0 { parts.append("no usable DANE data") }
        return parts.isEmpty ? "DANE status \(status)" : parts.joined(separator: ", ")
    }
}
