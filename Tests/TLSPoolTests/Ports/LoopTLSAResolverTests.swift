import Foundation
import KXEventLoop
import KXOver
import Testing
import TLSPool

/// The pool's TLSA source over the core's Resolver port: a pool loop asks,
/// the query runs on the resolver's loop, the answer comes back by callback, and only the resolver's DNSSEC verdict
/// decides what the pool may trust.
@Suite("TLSA from the resolver port")
struct LoopTLSAResolverTests {
    static let record: [UInt8] = [3, 1, 1] + (0..<32).map { UInt8($0) }

    @Test func aSecureAnswerCarriesItsRecordsAndTheOwnerNameIsKXOVERs() throws {
        let resolver = ScriptedResolver(.success(.secure), rdata: [Self.record, [3, 1]])   // the short one is dropped
        #expect(try lookup("KDC.B.test.", through: resolver) == .secure([TLSARecord(usage: 3, selector: 1, matchingType: 1,
                                                                                    data: Array(Self.record[3...]))]))
        #expect(resolver.asked == ["_88._tcp.kdc.b.test TLSA"])
    }

    @Test func anythingButSecureCarriesNoRecords() throws {
        #expect(try lookup("kdc.b.test", through: ScriptedResolver(.success(.insecure), rdata: [Self.record])) == .insecure)
        #expect(try lookup("kdc.b.test", through: ScriptedResolver(.success(.bogus(reason: "signature expired")), rdata: [Self.record]))
            == .bogus("_88._tcp.kdc.b.test TLSA: signature expired"))
        #expect(try lookup("kdc.b.test", through: ScriptedResolver(.failure(.timeout(seconds: 5))))
            == .failed("_88._tcp.kdc.b.test TLSA: no answer within 5.0 s"))
    }

    @Test func aResolverThatNeverAnswersFailsTheLookupAtItsBound() throws {
        #expect(try lookup("kdc.b.test", through: ScriptedResolver(nil), timeout: 0.05)
            == .failed("TLSA lookup for kdc.b.test did not finish within 0.05 s"))
    }

    /// Asks from another thread, as a pool loop does, while this thread runs the resolver's loop.
    private func lookup(_ host: String, through resolver: ScriptedResolver, timeout: Double = 10) throws -> TLSALookup? {
        let loop = try EventLoop()
        let source = LoopTLSAResolver(resolver: resolver, executor: loop.executor, timeout: timeout)
        let result = Mutex<TLSALookup?>(nil)
        Thread {
            source.tlsa(forHost: host) { lookup in result.withLock { $0 = lookup } }
        }.start()
        loop.run(until: { result.withLock { $0 != nil } }, timeout: 30)
        return result.withLock { $0 }
    }
}

/// Answers every query with one scripted outcome (nil: never answers), and
/// records what it was asked.
private final class ScriptedResolver: Resolver {
    enum Outcome { case success(DNSSecurity), failure(DNSFailure) }
    private final class Query: DNSQuery { func cancel() {} }
    private let outcome: Outcome?
    private let rdata: [[UInt8]]
    private(set) var asked: [String] = []

    init(_ outcome: Outcome?, rdata: [[UInt8]] = []) {
        self.outcome = outcome
        self.rdata = rdata
    }

    func query(_ name: String, _ type: DNSRecordType, completion: @escaping (Result<DNSAnswer, DNSFailure>) -> Void) -> DNSQuery {
        asked.append("\(name) \(type)")
        switch outcome {
        case .success(let security)?:
            completion(.success(DNSAnswer(name: name, type: type, security: security, nameDoesNotExist: false, rdata: rdata)))
        case .failure(let failure)?:
            completion(.failure(failure))
        case nil:
            break
        }
        return Query()
    }
}
