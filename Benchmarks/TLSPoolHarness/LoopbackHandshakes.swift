import Foundation
import KXEventLoop
import KXOver
import TLSPool

/// Full mutual STARTTLS exchanges through two pools over loopback TCP (or a socketpair), driven
/// on one event loop: what tests and benchmarks need to run N handshakes.
/// `clientSide` talks to the pool holding the client KDC's identity,
/// `serverSide` to the one holding the server KDC's.
public final class LoopbackHandshakes {
    public let loop: EventLoop
    public let clientSide: TLSPoolClient
    public let serverSide: TLSPoolClient
    /// What the two KDC sides' sockets are: loopback TCP (as in a crossover),
    /// or an AF_UNIX socketpair (as in the TLS floor).
    public enum Transport: Sendable { case loopbackTCP, socketPair }
    public var transport: Transport = .loopbackTCP

    public struct Outcome {
        public let client: Result<TLSPoolSession, TLSPoolError>
        public let server: Result<TLSPoolSession, TLSPoolError>
        public let clientTranscript: [StartTLS.Stage]
        public let serverTranscript: [StartTLS.Stage]
    }

    public init(loop: EventLoop, clientSide: TLSPoolClient, serverSide: TLSPoolClient) {
        self.loop = loop
        self.clientSide = clientSide
        self.serverSide = serverSide
    }

    /// Embedded pools for both sides (each gets its own in-process connection).
    public convenience init(loop: EventLoop, clientPool: TLSPoolServer, serverPool: TLSPoolServer) throws {
        self.init(loop: loop,
                  clientSide: TLSPoolClient(connection: try clientPool.connectInProcess(), loop: loop),
                  serverSide: TLSPoolClient(connection: try serverPool.connectInProcess(), loop: loop))
    }

    /// One exchange: the client side asks for `server`'s host, the server
    /// side accepts whatever the LOCALID handler approves. Runs the loop until
    /// both sides completed or `timeout` passed.
    public func handshake(client: StartTLSParameters, server: StartTLSParameters,
                          localIDHandler: StartTLS.LocalIDHandler? = { proposed, _ in .accept(localID: proposed) },
                          timeout: Double = 15) throws -> Outcome {
        var clientResult: Result<TLSPoolSession, TLSPoolError>?
        var serverResult: Result<TLSPoolSession, TLSPoolError>?
        let (clientExchange, serverExchange) = try startPair(client: client, server: server, localIDHandler: localIDHandler,
                                                             clientDone: { clientResult = $0 }, serverDone: { serverResult = $0 })
        loop.run(until: { clientResult != nil && serverResult != nil }, timeout: timeout)
        if clientResult == nil { clientExchange.abandon() }
        if serverResult == nil { serverExchange.abandon() }
        return Outcome(client: clientResult ?? .failure(TLSPoolError(code: ETIMEDOUT, message: "no result")),
                       server: serverResult ?? .failure(TLSPoolError(code: ETIMEDOUT, message: "no result")),
                       clientTranscript: clientExchange.transcript, serverTranscript: serverExchange.transcript)
    }

    /// Both sides' STARTTLS over a fresh pair of connected sockets, started (the server first).
    private func startPair(client: StartTLSParameters, server: StartTLSParameters, localIDHandler: StartTLS.LocalIDHandler?,
                           clientDone: @escaping StartTLS.Completion, serverDone: @escaping StartTLS.Completion) throws -> (StartTLS, StartTLS) {
        let tcp = try transport == .loopbackTCP ? loopbackTCPPair() : socketPair()
        let clientExchange = StartTLS(client: clientSide, tcpSocket: tcp.client, parameters: client, completion: clientDone)
        let serverExchange = StartTLS(client: serverSide, tcpSocket: tcp.server, parameters: server,
                                      localIDHandler: localIDHandler, completion: serverDone)
        serverExchange.start()
        clientExchange.start()
        return (clientExchange, serverExchange)
    }

    static func sameBytes(_ x: KeyMaterial, _ y: KeyMaterial) -> Bool {
        x.withUnsafeBytes { p in y.withUnsafeBytes { q in p.elementsEqual(q) } }
    }

    /// `count` exchanges one after the other, each followed by a key export on
    /// both sides with the KXOVER label; returns each exchange's wall time.
    /// Fails on the first exchange that does not complete or whose keys differ.
    public func runMutualHandshakes(count: Int, clientID: String, serverID: String,
                                    exportLength: Int = 64, exportContext: [UInt8] = []) throws -> [TimeInterval] {
        var durations: [TimeInterval] = []
        for _ in 0..<count {
            let started = Date()
            let outcome = try handshake(client: .kxoverClient(localID: clientID, remoteID: serverID), server: .kxoverServer())
            let clientSession = try outcome.client.get(), serverSession = try outcome.server.get()
            defer { clientSession.close(); serverSession.close() }
            let equal = try exportedKeysAgree(clientSession, serverSession, label: KeySchedule.exporterLabel, context: exportContext, length: exportLength)
            guard equal else { throw TLSPoolError(code: EPROTO, message: "exported keys differ") }
            durations.append(Date().timeIntervalSince(started))
        }
        return durations
    }

    /// `count` exchanges with `inFlight` of them running at once (each
    /// followed by a key export on both sides, compared); returns the wall
    /// time of all of them. Fails on the first that does not complete or
    /// whose keys differ, or when they take longer than `timeout` in all.
    public func runConcurrentHandshakes(count: Int, inFlight: Int, clientID: String, serverID: String,
                                        exportLength: Int = 64, exportContext: [UInt8] = [], timeout: Double = 300) throws -> TimeInterval {
        var launched = 0, completed = 0
        var failure: Error?
        var running: [Int: (StartTLS, StartTLS)] = [:]
        func keepFirst(_ error: Error) { if failure == nil { failure = error } }   // later ones follow from it
        func launch() {
            let number = launched
            launched += 1
            var clientResult: Result<TLSPoolSession, TLSPoolError>?, serverResult: Result<TLSPoolSession, TLSPoolError>?
            func bothDone() {
                guard let clientResult, let serverResult else { return }
                running[number] = nil
                do {
                    let a = try clientResult.get(), b = try serverResult.get()
                    var first: Result<KeyMaterial, TLSPoolError>?, second: Result<KeyMaterial, TLSPoolError>?
                    func compared() {
                        guard let first, let second else { return }
                        defer { a.close(); b.close() }
                        do {
                            let x = try first.get(), y = try second.get()
                            guard Self.sameBytes(x, y) else {
                                keepFirst(TLSPoolError(code: EPROTO, message: "exported keys differ")); return
                            }
                        } catch { keepFirst(error); return }
                        completed += 1
                        if launched < count && failure == nil { launch() }
                    }
                    a.exportKey(label: KeySchedule.exporterLabel, context: exportContext, length: exportLength) { first = $0; compared() }
                    b.exportKey(label: KeySchedule.exporterLabel, context: exportContext, length: exportLength) { second = $0; compared() }
                } catch {
                    keepFirst(error)
                }
            }
            do {
                running[number] = try startPair(client: .kxoverClient(localID: clientID, remoteID: serverID), server: .kxoverServer(),
                                                localIDHandler: { proposed, _ in .accept(localID: proposed) },
                                                clientDone: { clientResult = $0; bothDone() }, serverDone: { serverResult = $0; bothDone() })
            } catch {
                keepFirst(error)
            }
        }
        let started = Date()
        for _ in 0..<min(inFlight, count) { launch() }
        loop.run(until: { completed == count || failure != nil }, timeout: timeout)
        for (client, server) in running.values { client.abandon(); server.abandon() }
        if let failure { throw failure }
        guard completed == count else { throw TLSPoolError(code: ETIMEDOUT, message: "\(completed) of \(count) exchanges in \(timeout) s") }
        return Date().timeIntervalSince(started)
    }

    /// Exports on both sessions and compares the material without copying it out.
    public func exportedKeysAgree(_ a: TLSPoolSession, _ b: TLSPoolSession, label: String, context: [UInt8]?, length: Int,
                                  timeout: Double = 10) throws -> Bool {
        var first: Result<KeyMaterial, TLSPoolError>?, second: Result<KeyMaterial, TLSPoolError>?
        a.exportKey(label: label, context: context, length: length) { first = $0 }
        b.exportKey(label: label, context: context, length: length) { second = $0 }
        loop.run(until: { first != nil && second != nil }, timeout: timeout)
        guard let first, let second else { throw TLSPoolError(code: ETIMEDOUT, message: "key export timed out") }
        return Self.sameBytes(try first.get(), try second.get())
    }
}
