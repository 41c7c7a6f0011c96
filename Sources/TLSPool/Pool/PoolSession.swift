import CFDPass
import CGnuTLS
import Foundation
import KXEventLoop

/// One STARTTLS inside the pool, run non-blocking on one of the pool's
/// lanes: handshake (with the LOCALID callback), peer validation (expiry,
/// host name, DANE with an asynchronous TLSA lookup), PLAINTEXT_CONNECT,
/// ctlkey registration, the final reply, then the relay until either side
/// closes. Each step starts when what it waits for arrives (socket
/// readiness, the application's answer, the TLSA answer); nothing waits on
/// a thread, and the handshake deadline bounds every wait up to the reply.
///
/// Everything below runs on `lane`'s thread, except where marked: `cancel`
/// (any thread), the exporter (the requesting connection's lane, under
/// `tlsLock`) and `isRegistered`.
final class PoolSession: @unchecked Sendable {
    let ctlkey: CtlKey
    let flags: StartTLSFlags
    let role: TLSSession.Role
    let server: TLSPoolServer
    let owner: PoolConnection
    let lane: PoolLane

    private let cryptFD: Int32
    private var plainFD: Int32?
    /// The exchange record: edited and echoed on every pool→application record.
    private var record: TLSPoolRecord
    /// Replies go to the reqid of the application's latest record (spec §1.7).
    private var latestReqid: UInt16
    private var localID: String
    private var remoteID: String
    private let handshakeTimeoutMS: UInt32
    private let deadline: Date
    private var tls: TLSSession?

    private enum Stage { case starting, handshaking, awaitingAnswer, lookingUpTLSA, lingering, relaying, ended }
    private var stage = Stage.starting
    /// What the server's ClientHello hook does (see `clientHelloArrived`).
    private enum HelloHook { case decide, sniff, settled }
    private var helloHook = HelloHook.decide
    /// Set by the ClientHello hook: why it aborted the handshake, or that it
    /// stopped a first pass to ask for LOCALID.
    private var hookFailure: PoolProblem?
    private var sniffedHello = false
    /// The callback awaiting the application's answer, and what to do with it.
    private var awaiting: (command: PIOCCommand, then: (ReceivedRecord) throws -> Void)?
    /// The peer chain checked so far, waiting for its TLSA records.
    private var checkedPeer: (host: String, chain: [[UInt8]], names: CertificateNames)?
    /// The peer host's TLSA lookup: `answer` is nil until it arrives. The
    /// client role starts it with the handshake (remoteid names the host), so
    /// its answer is usually in when the server's chain is; the server role
    /// when the client's chain names the host.
    private var tlsaLookup: (host: String, answer: TLSALookup?)?
    @CancelledWhenReplaced private var socketWatch: Watch?
    @CancelledWhenReplaced private var deadlineTimer: Watch?
    private var linger: Linger?
    private var relay: Relay?

    /// Guards `tls` once the session is registered (relay vs. PRNG).
    private let tlsLock = NSLock()
    private var tornDown = false
    private let stateLock = NSLock()
    private var registered = false

    /// Captured after validation, immutable once registered.
    private(set) var peerNames: CertificateNames?
    private(set) var ownNames: CertificateNames?

    init(server: TLSPoolServer, owner: PoolConnection, lane: PoolLane, request: TLSPoolRecord, cryptFD: Int32) {
        let payload = request.starttls
        self.server = server
        self.owner = owner
        self.lane = lane
        self.cryptFD = cryptFD
        record = request
        latestReqid = request.reqid
        ctlkey = payload.ctlkey
        flags = payload.flags
        role = payload.flags.effectiveLocalRoles == .localRoleClient ? .client : .server
        localID = payload.localID
        remoteID = payload.remoteID
        let configuration = server.configuration
        let requested = payload.timeout == TLSPoolProtocol.timeoutDefault ? configuration.defaultHandshakeTimeoutMS : payload.timeout
        handshakeTimeoutMS = min(requested, configuration.maximumHandshakeTimeoutMS)
        deadline = Date().addingTimeInterval(Double(handshakeTimeoutMS) / 1000)
    }

    deinit {
        // Only a session dropped unfinished (its lane stopped first) gets here with descriptors.
        if stage != .ended {
            Descriptors.close(cryptFD)
            Descriptors.close(plainFD)
        }
    }

    /// What this pool refuses before starting a session (spec §3.1; fail closed).
    static func refusal(for request: StartTLSPayload) -> PoolProblem? {
        let flags = request.flags
        let roles = flags.effectiveLocalRoles
        guard roles == .localRoleClient || roles == .localRoleServer else {
            return PoolProblem(.commandNotImplemented, roles.isEmpty ? "no usable local role" : "peer-to-peer roles are not supported")
        }
        if flags.contains(.dtls) || request.ipProtocol != 6 {
            return PoolProblem(.commandNotImplemented, "only TLS over TCP is supported")
        }
        if !flags.isDisjoint(with: [.ignoreRemoteID, .requestRemoteID]) {
            return PoolProblem(.commandNotImplemented, "this pool always requires and validates the peer's certificate")
        }
        if flags.contains(.localIDOnTheFly) {
            return PoolProblem(.commandNotImplemented, "on-the-fly local identities are not supported")
        }
        return nil
    }

    /// Any thread.
    var isRegistered: Bool { stateLock.withLock { registered } }

    /// Stops the session from any thread.
    func cancel() {
        lane.execute { [self] in
            switch stage {
            case .ended: return
            case .relaying: relay?.stop(.cancelled)
            default: fail(PoolProblem(.clientDisconnect, "session cancelled"), quietly: true)
            }
        }
    }

    /// Releases a session that never started (on the caller's thread: it
    /// never registered anything on a loop).
    func discard() {
        stage = .ended
        releaseResources()
    }

    // MARK: - Start

    /// First step, on the lane.
    func start() {
        deadlineTimer = lane.loop.schedule(after: max(deadline.timeIntervalSinceNow, 0)) { [self] in deadlinePassed() }
        attempt {
            kx_fdpass_set_nodelay(cryptFD)   // every read and write on it is MSG_DONTWAIT
            switch role {
            case .client:
                if flags.contains(.localIDCheck) {
                    askLocalIdentity(proposal: localID) { [self] chosen in
                        localID = chosen
                        try beginClientHandshake()
                    }
                } else {
                    try beginClientHandshake()
                }
            case .server:
                // Credentials follow the SNI name, so they are chosen in the
                // hook. With LOCALID_CHECK, the application must approve that
                // name first, and GnuTLS chooses the certificate in the same
                // call that runs the hook: a first pass only reads the
                // ClientHello and its name (recording the bytes), and a second
                // session, with the approved identity's credentials, handshakes
                // on the same bytes.
                helloHook = flags.contains(.localIDCheck) ? .sniff : .decide
                let session = try newTLSSession(replay: [])
                if helloHook == .sniff { session.startRecording() }
                handshakeStep()
            }
        }
    }

    private func newTLSSession(replay: [UInt8]) throws -> TLSSession {
        let session = try TLSSession(role: role, cryptFD: cryptFD, priority: server.priority, replay: replay)
        tls = session
        if role == .server {
            session.setPostClientHelloHook(context: Unmanaged.passUnretained(self).toOpaque()) { handle in
                guard let handle, let context = gnutls_session_get_ptr(handle) else { return GNUTLS_E_INTERNAL_ERROR }
                return Unmanaged<PoolSession>.fromOpaque(context).takeUnretainedValue().clientHelloArrived()
            }
        }
        return session
    }

    /// Client role: our identity is the request's localid (optionally
    /// confirmed by the application), the server is the remoteid's host.
    private func beginClientHandshake() throws {
        guard !localID.isEmpty else { throw PoolProblem(.commandNotImplemented, "the client role needs a local identity") }
        let session = try newTLSSession(replay: [])
        let host = HostName.domain(ofIdentity: remoteID)
        guard HostName.isPlain(host) else { throw PoolProblem(.commandNotImplemented, "the client role needs remoteid naming the server host") }
        if !flags.contains(.withoutSNI), session.setServerName(host) != GNUTLS_E_SUCCESS {
            throw PoolProblem(.connectionDriverSetup, "cannot set SNI \(host)")
        }
        try installCredentials(for: localID)
        lookUpTLSA(host)
        handshakeStep()
    }

    private func lookUpTLSA(_ host: String) {
        tlsaLookup = (host, nil)
        server.configuration.tlsaResolver.tlsa(forHost: host) { [self] lookup in
            lane.execute { [self] in tlsaAnswered(lookup, for: host) }
        }
    }

    /// A lookup's answer: used at once if the chain is waiting for it, else
    /// kept until the chain arrives.
    private func tlsaAnswered(_ lookup: TLSALookup, for host: String) {
        guard tlsaLookup?.host == host else { return }
        if stage == .lookingUpTLSA, checkedPeer?.host == host {
            tlsaLookup = nil
            tlsaArrived(lookup)
        } else {
            tlsaLookup = (host, lookup)
        }
    }

    /// Server role, inside gnutls_handshake after the ClientHello: take the
    /// SNI name as local identity (`decide`), or only learn it and stop the
    /// first pass (`sniff`), or use the identity the application approved
    /// (`settled`); then install its certificate and demand the client's.
    private func clientHelloArrived() -> Int32 {
        do {
            if helloHook != .settled {
                let sni = tls?.requestedServerName()
                if let sni, !(HostName.isPlain(sni) && FixedStringField.fits(sni)) {
                    throw PoolProblem(.stirredNotShaken, "unusable SNI name")
                }
                if localID.isEmpty {
                    guard let sni else { throw PoolProblem(.stirredNotShaken, "no SNI and no preset local identity") }
                    localID = sni
                } else if let sni, !HostName.equal(HostName.domain(ofIdentity: localID), sni) {
                    throw PoolProblem(.stirredNotShaken, "SNI \(sni) does not match local identity \(localID)")
                }
                if helloHook == .sniff {
                    sniffedHello = true
                    return GNUTLS_E_USER_ERROR   // ends this pass; nothing was sent
                }
            }
            try installCredentials(for: localID)
            tls?.requireClientCertificate()
            return GNUTLS_E_SUCCESS
        } catch let problem as PoolProblem {
            hookFailure = problem
        } catch {
            hookFailure = PoolProblem(.stirredNotShaken, "\(error)")
        }
        return GNUTLS_E_UNRECOGNIZED_NAME
    }

    /// The first pass has read the ClientHello: ask the application about
    /// the name, then handshake again on the same bytes.
    private func helloSniffed() throws {
        guard let hello = tls?.takeRecorded() else {
            throw PoolProblem(.stirredNotShaken, "the ClientHello is larger than \(SocketTransport.recordingLimit) bytes")
        }
        tls = nil
        askLocalIdentity(proposal: localID) { [self] chosen in
            localID = chosen
            helloHook = .settled
            _ = try newTLSSession(replay: hello)
            handshakeStep()
        }
    }

    private func installCredentials(for identity: String) throws {
        let store = server.credentials
        guard let credentials = store.credentials(for: identity) else {
            throw PoolProblem(.stirredNotShaken, "no credentials for local identity \(identity)")
        }
        guard tls?.setCredentials(credentials, owner: store) == GNUTLS_E_SUCCESS else {
            throw PoolProblem(.connectionDriverSetup, "cannot install credentials for \(identity)")
        }
    }

    // MARK: - Handshake

    /// Advances the handshake; on GNUTLS_E_AGAIN waits for the socket.
    private func handshakeStep() {
        guard let tls else { return fail(PoolProblem(.connectionDriverSetup, "no TLS session")) }
        stage = .handshaking
        let result = tls.handshakeStep()
        if result == GNUTLS_E_AGAIN {
            return waitForSocket(writing: tls.wantsWrite) { [self] in handshakeStep() }
        }
        socketWatch = nil
        attempt {
            if sniffedHello && result == GNUTLS_E_USER_ERROR {
                sniffedHello = false
                return try helloSniffed()
            }
            guard result == GNUTLS_E_SUCCESS else { throw handshakeFailure(result) }
            guard tls.isTLS13 else { throw PoolProblem(.stirredNotShaken, "negotiated \(tls.summary), not TLS 1.3") }
            try checkPeerChain()
        }
    }

    private func handshakeFailure(_ result: Int32) -> PoolProblem {
        guard let tls else { return PoolProblem(.stirredNotShaken, "TLS handshake failed") }
        // Tell the peer (not possible when the transport itself failed).
        if result != GNUTLS_E_PULL_ERROR && result != GNUTLS_E_PUSH_ERROR { tls.sendAlert(for: result) }
        if let hookFailure { return hookFailure }
        if result == GNUTLS_E_FATAL_ALERT_RECEIVED {
            return PoolProblem(.stirredNotShaken, "\(tls.receivedAlertNote): TLS handshake failed")   // the note first: messages are cut at 127 bytes
        }
        return PoolProblem(.stirredNotShaken, "TLS handshake failed: \(GnuTLS.describe(result))")
    }

    /// One wake-up when the crypt socket is ready, then `body`.
    private func waitForSocket(writing: Bool, then body: @escaping () -> Void) {
        socketWatch = lane.loop.watch(fd: cryptFD, events: writing ? .writable : .readable) { [self] _ in
            socketWatch = nil
            body()
        }
    }

    // MARK: - Peer validation

    /// The peer's chain: readable, in its validity period, naming the right
    /// host. Then its TLSA records are looked up (asynchronously).
    private func checkPeerChain() throws {
        guard let tls else { throw PoolProblem(.connectionDriverSetup, "no TLS session") }
        do {
            let chain = tls.peerChain()
            guard !chain.isEmpty else {
                throw PoolProblem(.stirredNotShaken, "the peer presented no certificate", alert: GNUTLS_A_CERTIFICATE_REQUIRED)
            }
            let expectedHost = role == .client ? HostName.domain(ofIdentity: remoteID) : nil
            guard let facts = server.chainFacts.facts(of: chain, expectedHost: expectedHost) else {
                throw PoolProblem(.stirredNotShaken, "unreadable peer certificate", alert: GNUTLS_A_BAD_CERTIFICATE)
            }
            let now = Date()
            for (index, period) in facts.validity.enumerated() {
                if let problem = period.problem(at: now) {
                    throw PoolProblem(.stirredNotShaken, (index == 0 ? "peer certificate " : "peer chain certificate \(index) ") + problem,
                                      alert: GNUTLS_A_CERTIFICATE_EXPIRED)
                }
            }
            let names = facts.names
            let host: String
            if let expectedHost {
                guard facts.namesExpectedHost else {
                    throw PoolProblem(.stirredNotShaken, "the server certificate does not name \(expectedHost)", alert: GNUTLS_A_BAD_CERTIFICATE)
                }
                host = expectedHost
            } else {
                guard let certified = names.certifiedHost else {
                    throw PoolProblem(.stirredNotShaken, "the client certificate names no host (no SAN dNSName or CN)", alert: GNUTLS_A_BAD_CERTIFICATE)
                }
                if !remoteID.isEmpty, !HostName.equal(HostName.domain(ofIdentity: remoteID), certified) {
                    throw PoolProblem(.stirredNotShaken, "the client certificate names \(certified), not \(remoteID)", alert: GNUTLS_A_BAD_CERTIFICATE)
                }
                host = certified
            }
            checkedPeer = (host, chain, names)
            stage = .lookingUpTLSA
            // A lookup for this host already out (the client's) answers now if
            // it is in, else when it comes (`tlsaAnswered`).
            guard let lookup = tlsaLookup, lookup.host == host else { return lookUpTLSA(host) }
            if let answer = lookup.answer {
                tlsaLookup = nil
                tlsaArrived(answer)
            }
        } catch let problem as PoolProblem {
            refuseCertificate(problem)
        }
    }

    /// The TLSA answer: the chain must match it (DANE), and the identity's
    /// federation roots when it names some.
    private func tlsaArrived(_ lookup: TLSALookup) {
        guard stage == .lookingUpTLSA, let checked = checkedPeer, let tls else { return }
        checkedPeer = nil
        let (host, chain, names) = checked
        do {
            switch server.dane.verify(chain: chain, host: host, lookup: lookup) {
            case .matched: break
            case .refused(let reason):
                // No TLSA match means no trust anchor for the chain; a failed lookup is our trouble, not the peer's.
                if case .failed = lookup { throw PoolProblem(.stirredNotShaken, "DANE: \(reason)", alert: GNUTLS_A_INTERNAL_ERROR) }
                throw PoolProblem(.stirredNotShaken, "DANE: \(reason)", alert: GNUTLS_A_UNKNOWN_CA)
            }
            // In addition to DANE, never instead of it: the federation's roots, when this identity names some.
            if let roots = server.credentials.federationRoots(for: localID), let problem = roots.problem(with: chain) {
                throw PoolProblem(.stirredNotShaken, "federation roots: \(host): \(problem)", alert: GNUTLS_A_UNKNOWN_CA)
            }
        } catch let problem as PoolProblem {
            return refuseCertificate(problem)
        } catch {
            return fail(PoolProblem(.stirredNotShaken, "\(error)"))
        }
        peerNames = names
        ownNames = tls.ownCertificate().flatMap { server.chainFacts.facts(of: [$0], expectedHost: nil)?.names }
        if role == .server { remoteID = host }   // the validated identity (fixes upstream quirk §2.5.1)
        attempt { try connectPlaintext() }
    }

    /// Tells the peer why we hang up on its certificate (a fatal alert with
    /// the problem's description), then lets the alert arrive before the
    /// socket closes. The ERROR to the application names the alert.
    private func refuseCertificate(_ problem: PoolProblem) {
        guard let tls else { return fail(problem) }
        let alert = problem.alert ?? GNUTLS_A_BAD_CERTIFICATE
        tls.sendFatalAlert(alert)
        let note = TLSAlertNote(.sent, code: UInt8(truncatingIfNeeded: alert.rawValue), name: TLSSession.name(of: alert))
        let refusal = PoolProblem(problem.code, "\(note): \(problem.message)")
        stage = .lingering
        deadlineTimer = nil
        linger = Linger(fd: cryptFD, loop: lane.loop, until: min(deadline, Date().addingTimeInterval(Linger.seconds)), scratch: lane.scratch) { [self] in
            linger = nil
            fail(refusal)
        }
    }

    // MARK: - Callbacks to the application

    /// The STARTTLS_LOCALID callback: the application echoes the record
    /// (possibly with another localid, possibly with the plaintext socket) or
    /// declines with ERROR; `then` gets the chosen identity.
    private func askLocalIdentity(proposal: String, then: @escaping (String) throws -> Void) {
        var question = record
        question.command = .startTLSLocalID
        question.reqid = latestReqid
        question.starttls.localID = proposal
        question.starttls.remoteID = remoteID
        ask(question) { [self] answer in
            switch answer.record.command {
            case .startTLSLocalID:
                record = answer.record
                let chosen = answer.record.starttls.localID
                if let fd = answer.passedFD {
                    if plainFD == nil { plainFD = fd } else { Descriptors.close(fd) }
                }
                guard !chosen.isEmpty else { throw PoolProblem(.stirredNotShaken, "the application chose no local identity") }
                try then(chosen)
            case .error:
                Descriptors.close(answer.passedFD)
                throw PoolProblem(.stirredNotShaken, "local identity declined: \(answer.record.error.message)")
            default:
                Descriptors.close(answer.passedFD)
                throw PoolProblem(.commandBadCallbackResponse, "\(answer.record.command.name) does not answer STARTTLS_LOCALID")
            }
        }
    }

    /// PLAINTEXT_CONNECT, unless the plaintext socket came with LOCALID.
    private func connectPlaintext() throws {
        guard plainFD == nil else { return try protect() }
        var question = record
        question.command = .plaintextConnect
        question.reqid = latestReqid
        fillIdentities(&question)
        ask(question) { [self] answer in
            guard answer.record.command == .plaintextConnect else {
                Descriptors.close(answer.passedFD)
                throw PoolProblem(.commandBadCallbackResponse, "\(answer.record.command.name) does not answer PLAINTEXT_CONNECT")
            }
            guard let fd = answer.passedFD else {
                throw PoolProblem(.plainSocketNeeded, "PLAINTEXT_CONNECT answered without a socket")
            }
            record = answer.record
            plainFD = fd
            try protect()
        }
    }

    /// Sends a callback; `then` runs with the answer (on the lane).
    private func ask(_ question: TLSPoolRecord, then: @escaping (ReceivedRecord) throws -> Void) {
        awaiting = (question.command, then)
        stage = .awaitingAnswer
        if let problem = owner.sendCallback(question, for: self) {
            awaiting = nil
            fail(problem)
        }
    }

    /// The application's answer to our callback (any thread).
    func callbackAnswered(_ answer: ReceivedRecord) {
        lane.perform { [self] in
            guard stage == .awaitingAnswer, let pending = awaiting else { return Descriptors.close(answer.passedFD) }
            awaiting = nil
            latestReqid = answer.record.reqid
            attempt { try pending.then(answer) }
        }
    }

    // MARK: - Protected

    private func protect() throws {
        do {
            try server.registry.register(self, owner: flags.contains(.detach) ? nil : owner)
        } catch .duplicate {
            throw PoolProblem(.ctlkeyRegistrationFailed, "ctlkey already in use")
        } catch {
            throw PoolProblem(.clientDisconnect, "the application disconnected")
        }
        stateLock.withLock { registered = true }
        deadlineTimer = nil
        sendFinalReply()
        startRelay()
    }

    private func sendFinalReply() {
        var final = record
        final.command = .startTLS   // cbid: whatever the application last sent (upstream behaviour)
        final.reqid = latestReqid
        final.starttls.ctlkey = ctlkey
        fillIdentities(&final)
        owner.reply(final)
        server.log("STARTTLS \(localID) ⇄ \(remoteID): \(tls?.summary ?? "")")
    }

    private func fillIdentities(_ outgoing: inout TLSPoolRecord) {
        outgoing.starttls.localID = localID
        outgoing.starttls.remoteID = remoteID
    }

    // MARK: - Key export (from the requesting connection's lane)

    func exportKeyingMaterial(label: [UInt8], context: [UInt8]?, into output: inout [UInt8]) -> PoolProblem? {
        tlsLock.lock()
        defer { tlsLock.unlock() }
        guard !tornDown, let tls else { return PoolProblem(.ctlkeyNotFound, "the session has ended") }
        let result = output.withUnsafeMutableBytes { tls.exportKeyingMaterial(label: label, context: context, into: $0) }
        return result == GNUTLS_E_SUCCESS ? nil : PoolProblem(.prngUnavailable, "exporter: \(GnuTLS.describe(result))")
    }

    // MARK: - Relay and teardown

    private func startRelay() {
        guard let tls, let plainFD else { return finish() }
        stage = .relaying
        relay = Relay(tls: tls, tlsLock: tlsLock, cryptFD: cryptFD, plainFD: plainFD, lane: lane,
                      graceSeconds: server.configuration.relayGraceSeconds) { [self] end in relayEnded(end) }
        relay?.start()
    }

    /// How the relay ended: an abnormal end leaves its reason (the peer's
    /// alert, a TLS error) for the application to learn later.
    private func relayEnded(_ end: Relay.End) {
        relay = nil
        guard case .tlsFailed(let code) = end, let tls else { return finish() }
        tlsLock.lock()   // a PRNG on another lane may still use the session
        let reason = code == GNUTLS_E_FATAL_ALERT_RECEIVED ? tls.receivedAlertNote.description : "TLS error: \(GnuTLS.describe(code))"
        tlsLock.unlock()
        server.log("session \(localID) ⇄ \(remoteID) ended: \(reason)")
        finish(endedBecause: reason)
    }

    /// Runs `body`; a problem it throws ends the session with that ERROR.
    private func attempt(_ body: () throws -> Void) {
        do {
            try body()
        } catch let problem as PoolProblem {
            fail(problem)
        } catch {
            fail(PoolProblem(.connectionDriverSetup, "\(error)"))
        }
    }

    private func deadlinePassed() {
        deadlineTimer = nil
        switch stage {
        case .awaitingAnswer:
            let name = awaiting?.command.name ?? "the callback"
            fail(PoolProblem(.stirredNotShaken, "no answer to \(name) before the handshake timeout"))
        case .lookingUpTLSA:
            // As a failed lookup: our trouble, not the peer's.
            tlsaArrived(.failed("TLSA lookup for \(checkedPeer?.host ?? "the peer") did not finish before the handshake timeout"))
        case .starting, .handshaking:
            socketWatch = nil
            fail(handshakeFailure(GNUTLS_E_TIMEDOUT))
        case .lingering, .relaying, .ended:
            break
        }
    }

    /// Ends a session that never became protected: ERROR to the application
    /// on its latest reqid (unless `quietly`: it was cancelled), then release.
    private func fail(_ problem: PoolProblem, quietly: Bool = false) {
        guard stage != .ended else { return }
        if !quietly || problem.code != .clientDisconnect {
            server.log("STARTTLS \(remoteID.isEmpty ? localID : remoteID) failed: \(problem.message)")
        }
        owner.reply(.error(problem.code, problem.message, reqid: latestReqid))
        finish()
    }

    /// Unregister first (no PRNG reaches a dying session; an abnormal end
    /// leaves its reason), then release GnuTLS and every descriptor. Runs
    /// exactly once, on the lane.
    private func finish(endedBecause reason: String? = nil) {
        guard stage != .ended else { return }
        stage = .ended
        server.registry.unregister(self, reason: reason)
        releaseResources()
        owner.sessionEnded(self)
        server.sessionEnded(self)
    }

    private func releaseResources() {
        socketWatch = nil
        deadlineTimer = nil
        linger?.stop()
        linger = nil
        relay?.dismiss()
        relay = nil
        awaiting = nil
        owner.forgetCallbacks(of: self)
        tlsLock.lock()
        tornDown = true
        tls = nil
        tlsLock.unlock()
        Descriptors.close(cryptFD)
        Descriptors.close(plainFD)
        plainFD = nil
    }
}
