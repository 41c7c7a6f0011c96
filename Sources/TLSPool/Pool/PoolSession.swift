import CFDPass
import CGnuTLS
import Foundation

/// One STARTTLS inside the pool, run on its own thread with blocking GnuTLS:
/// handshake (with the LOCALID callback paused inside it), peer validation
/// (expiry, host name, DANE), PLAINTEXT_CONNECT, ctlkey registration, the
/// final reply, then the relay until either side closes.
///
/// Why a thread and a blocking handshake: the relay needs a thread anyway
/// (spec §6.3), and blocking the thread in the post-ClientHello hook while the
/// application answers LOCALID keeps the handshake a straight line instead of
/// a GNUTLS_E_AGAIN re-entry state machine. Every wait is bounded by the
/// handshake deadline and woken by `cancel()` (the cancel descriptor is part
/// of every poll the transport makes).
final class PoolSession: @unchecked Sendable {
    let ctlkey: CtlKey
    let flags: StartTLSFlags
    let role: TLSSession.Role
    let server: TLSPoolServer
    let owner: PoolConnection

    private let cryptFD: Int32
    private var plainFD: Int32?
    private let cancelFD: Int32
    /// The exchange record: edited and echoed on every pool→application record.
    private var record: TLSPoolRecord
    /// Replies go to the reqid of the application's latest record (spec §1.7).
    private var latestReqid: UInt16
    private var localID: String
    private var remoteID: String
    private let deadline: Date
    private let handshakeTimeoutMS: UInt32
    private var tls: TLSSession?
    /// Set by the ClientHello hook when it aborts the handshake, to report why.
    private var hookFailure: PoolProblem?

    /// Guards `tls` once the session is registered (relay vs. PRNG).
    private let tlsLock = NSLock()
    private var tornDown = false
    /// Guards the cancel descriptor against use after close.
    private let cancelLock = NSLock()
    private var finished = false
    private var registered = false

    /// Captured after validation, immutable once registered.
    private(set) var peerNames: CertificateNames?
    private(set) var ownNames: CertificateNames?

    init(server: TLSPoolServer, owner: PoolConnection, request: TLSPoolRecord, cryptFD: Int32) throws {
        let cancelFD = kx_fdpass_wake_fd()
        guard cancelFD >= 0 else { throw TLSPoolSetupError("eventfd: errno \(errno)") }
        let payload = request.starttls
        self.server = server
        self.owner = owner
        self.cryptFD = cryptFD
        self.cancelFD = cancelFD
        kx_fdpass_set_nodelay(cryptFD)
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

    /// What this pool refuses before starting a thread (spec §3.1; fail closed).
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

    var isRegistered: Bool {
        cancelLock.lock()
        defer { cancelLock.unlock() }
        return registered
    }

    /// Stops the session from any thread: every wait it is in wakes up.
    func cancel() {
        cancelLock.lock()
        if !finished { kx_fdpass_wake_signal(cancelFD) }
        cancelLock.unlock()
        owner.abandonCallbacks(of: self)
    }

    /// Releases a session whose thread never started.
    func discard() {
        finish()
    }

    // MARK: - Thread body

    func run() {
        do {
            try prepareTLS()
            try handshake()
            do {
                try validatePeer()
            } catch let problem as PoolProblem {
                throw refuseCertificate(problem)
            }
            try connectPlaintext()
            try register()
            sendFinalReply()
        } catch let problem as PoolProblem {
            server.log("STARTTLS \(remoteID.isEmpty ? localID : remoteID) failed: \(problem.message)")
            owner.reply(.error(problem.code, problem.message, reqid: latestReqid))
            return finish()
        } catch {
            owner.reply(.error(.connectionDriverSetup, "\(error)", reqid: latestReqid))
            return finish()
        }
        finish(endedBecause: relay())
    }

    /// Tells the peer why we hang up on its certificate (a fatal alert with
    /// the problem's description), then lets the alert arrive before the
    /// socket closes. The ERROR to the application names the alert.
    private func refuseCertificate(_ problem: PoolProblem) -> PoolProblem {
        guard let tls else { return problem }
        let alert = problem.alert ?? GNUTLS_A_BAD_CERTIFICATE
        tls.sendFatalAlert(alert)
        Linger.drain(cryptFD, cancelFD: cancelFD, until: min(deadline, Date().addingTimeInterval(Linger.seconds)))
        let note = TLSAlertNote(.sent, code: UInt8(truncatingIfNeeded: alert.rawValue), name: TLSSession.name(of: alert))
        return PoolProblem(problem.code, "\(note): \(problem.message)")
    }

    // MARK: - Stages

    private func prepareTLS() throws {
        let session = try TLSSession(role: role, cryptFD: cryptFD, cancelFD: cancelFD, priority: server.configuration.priority)
        tls = session
        session.setHandshakeTimeout(milliseconds: handshakeTimeoutMS)
        switch role {
        case .client:
            try chooseClientIdentity()
            let host = HostName.domain(ofIdentity: remoteID)
            guard HostName.isPlain(host) else { throw PoolProblem(.commandNotImplemented, "the client role needs remoteid naming the server host") }
            if !flags.contains(.withoutSNI), session.setServerName(host) != GNUTLS_E_SUCCESS {
                throw PoolProblem(.connectionDriverSetup, "cannot set SNI \(host)")
            }
            try installCredentials(for: localID)
        case .server:
            // Credentials follow the SNI name, so they are chosen in the hook.
            session.setPostClientHelloHook(context: Unmanaged.passUnretained(self).toOpaque()) { handle in
                guard let handle, let context = gnutls_session_get_ptr(handle) else { return GNUTLS_E_INTERNAL_ERROR }
                return Unmanaged<PoolSession>.fromOpaque(context).takeUnretainedValue().clientHelloArrived()
            }
        }
    }

    /// Client role: our identity is the request's localid, optionally
    /// confirmed by the application (LOCALID_CHECK) before the handshake.
    private func chooseClientIdentity() throws {
        if flags.contains(.localIDCheck) { localID = try askLocalIdentity(proposal: localID) }
        guard !localID.isEmpty else { throw PoolProblem(.commandNotImplemented, "the client role needs a local identity") }
    }

    /// Server role, inside gnutls_handshake after the ClientHello: take the
    /// SNI name as local identity, let the application approve it, install
    /// that identity's certificate and demand the client's.
    private func clientHelloArrived() -> Int32 {
        do {
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
            if flags.contains(.localIDCheck) { localID = try askLocalIdentity(proposal: localID) }
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

    /// The STARTTLS_LOCALID callback: the application echoes the record
    /// (possibly with another localid, possibly with the plaintext socket) or
    /// declines with ERROR.
    private func askLocalIdentity(proposal: String) throws -> String {
        var question = record
        question.command = .startTLSLocalID
        question.reqid = latestReqid
        question.starttls.localID = proposal
        question.starttls.remoteID = remoteID
        let answer = try ask(question)
        switch answer.record.command {
        case .startTLSLocalID:
            record = answer.record
            let chosen = answer.record.starttls.localID
            if let fd = answer.passedFD { plainFD = fd }
            guard !chosen.isEmpty else { throw PoolProblem(.stirredNotShaken, "the application chose no local identity") }
            return chosen
        case .error:
            Descriptors.close(answer.passedFD)
            throw PoolProblem(.stirredNotShaken, "local identity declined: \(answer.record.error.message)")
        default:
            Descriptors.close(answer.passedFD)
            throw PoolProblem(.commandBadCallbackResponse, "\(answer.record.command.name) does not answer STARTTLS_LOCALID")
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

    private func handshake() throws {
        guard let tls else { throw PoolProblem(.connectionDriverSetup, "no TLS session") }
        let result = tls.handshake()
        guard result == GNUTLS_E_SUCCESS else {
            // Tell the peer (not possible when the transport itself failed or was cancelled).
            if result != GNUTLS_E_PULL_ERROR && result != GNUTLS_E_PUSH_ERROR { tls.sendAlert(for: result) }
            if let hookFailure { throw hookFailure }
            if result == GNUTLS_E_FATAL_ALERT_RECEIVED {
                throw PoolProblem(.stirredNotShaken, "\(tls.receivedAlertNote): TLS handshake failed")   // the note first: messages are cut at 127 bytes
            }
            throw PoolProblem(.stirredNotShaken, "TLS handshake failed: \(GnuTLS.describe(result))")
        }
        guard tls.isTLS13 else { throw PoolProblem(.stirredNotShaken, "negotiated \(tls.summary), not TLS 1.3") }
    }

    /// The peer's chain: in its validity period, naming the right host, and
    /// matching that host's DNSSEC-secured TLSA records.
    private func validatePeer() throws {
        guard let tls else { throw PoolProblem(.connectionDriverSetup, "no TLS session") }
        let chain = tls.peerChain()
        guard !chain.isEmpty else {
            throw PoolProblem(.stirredNotShaken, "the peer presented no certificate", alert: GNUTLS_A_CERTIFICATE_REQUIRED)
        }
        let certificates = chain.compactMap(X509Certificate.init(der:))
        guard certificates.count == chain.count, let leaf = certificates.first,
              let names = CertificateNames(der: chain[0]) else {
            throw PoolProblem(.stirredNotShaken, "unreadable peer certificate", alert: GNUTLS_A_BAD_CERTIFICATE)
        }
        for (index, certificate) in certificates.enumerated() {
            if let problem = certificate.validityProblem() {
                throw PoolProblem(.stirredNotShaken, (index == 0 ? "peer certificate " : "peer chain certificate \(index) ") + problem,
                                  alert: GNUTLS_A_CERTIFICATE_EXPIRED)
            }
        }
        let host: String
        switch role {
        case .client:
            host = HostName.domain(ofIdentity: remoteID)
            guard leaf.names(host: host) else {
                throw PoolProblem(.stirredNotShaken, "the server certificate does not name \(host)", alert: GNUTLS_A_BAD_CERTIFICATE)
            }
        case .server:
            guard let certified = names.certifiedHost else {
                throw PoolProblem(.stirredNotShaken, "the client certificate names no host (no SAN dNSName or CN)", alert: GNUTLS_A_BAD_CERTIFICATE)
            }
            if !remoteID.isEmpty, !HostName.equal(HostName.domain(ofIdentity: remoteID), certified) {
                throw PoolProblem(.stirredNotShaken, "the client certificate names \(certified), not \(remoteID)", alert: GNUTLS_A_BAD_CERTIFICATE)
            }
            host = certified
        }
        let lookup = server.configuration.tlsaResolver.tlsa(forHost: host)
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
        peerNames = names
        ownNames = tls.ownCertificate().flatMap(CertificateNames.init(der:))
        if role == .server { remoteID = host }   // the validated identity (fixes upstream quirk §2.5.1)
    }

    /// PLAINTEXT_CONNECT, unless the plaintext socket came with LOCALID.
    private func connectPlaintext() throws {
        guard plainFD == nil else { return }
        var question = record
        question.command = .plaintextConnect
        question.reqid = latestReqid
        fillIdentities(&question)
        let answer = try ask(question)
        guard answer.record.command == .plaintextConnect else {
            Descriptors.close(answer.passedFD)
            throw PoolProblem(.commandBadCallbackResponse, "\(answer.record.command.name) does not answer PLAINTEXT_CONNECT")
        }
        guard let fd = answer.passedFD else {
            throw PoolProblem(.plainSocketNeeded, "PLAINTEXT_CONNECT answered without a socket")
        }
        record = answer.record
        plainFD = fd
    }

    private func register() throws {
        do {
            try server.registry.register(self, owner: flags.contains(.detach) ? nil : owner)
        } catch .duplicate {
            throw PoolProblem(.ctlkeyRegistrationFailed, "ctlkey already in use")
        } catch {
            throw PoolProblem(.clientDisconnect, "the application disconnected")
        }
        cancelLock.lock()
        registered = true
        cancelLock.unlock()
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

    /// A callback to the application; updates the latest reqid from its answer.
    private func ask(_ question: TLSPoolRecord) throws -> ReceivedRecord {
        switch owner.callback(question, for: self, deadline: deadline) {
        case .answered(let answer):
            latestReqid = answer.record.reqid
            return answer
        case .disconnected: throw PoolProblem(.clientDisconnect, "the application disconnected")
        case .timedOut: throw PoolProblem(.stirredNotShaken, "no answer to \(question.command.name) before the handshake timeout")
        case .cancelled: throw PoolProblem(.clientDisconnect, "session cancelled")
        }
    }

    // MARK: - Key export (from the connection's reader thread)

    func exportKeyingMaterial(label: [UInt8], context: [UInt8]?, into output: inout [UInt8]) -> PoolProblem? {
        tlsLock.lock()
        defer { tlsLock.unlock() }
        guard !tornDown, let tls else { return PoolProblem(.ctlkeyNotFound, "the session has ended") }
        let result = output.withUnsafeMutableBytes { tls.exportKeyingMaterial(label: label, context: context, into: $0) }
        return result == GNUTLS_E_SUCCESS ? nil : PoolProblem(.prngUnavailable, "exporter: \(GnuTLS.describe(result))")
    }

    // MARK: - Relay and teardown

    /// Relays until the session ends; returns why, when it ended abnormally
    /// (the peer's alert, a TLS error), for the application to learn later.
    private func relay() -> String? {
        guard let tls, let plainFD else { return nil }
        let end = Relay(tls: tls, tlsLock: tlsLock, cryptFD: cryptFD, plainFD: plainFD, cancelFD: cancelFD,
                        graceSeconds: server.configuration.relayGraceSeconds).run()
        guard case .tlsFailed(let code) = end else { return nil }
        tlsLock.lock()   // a PRNG on the reader thread may still use the session
        let reason = code == GNUTLS_E_FATAL_ALERT_RECEIVED ? tls.receivedAlertNote.description : "TLS error: \(GnuTLS.describe(code))"
        tlsLock.unlock()
        server.log("session \(localID) ⇄ \(remoteID) ended: \(reason)")
        return reason
    }

    /// Unregister first (no PRNG reaches a dying session; an abnormal end
    /// leaves its reason), then release GnuTLS and every descriptor. Runs
    /// exactly once, on the session's thread.
    private func finish(endedBecause reason: String? = nil) {
        server.registry.unregister(self, reason: reason)
        tlsLock.lock()
        tornDown = true
        tls = nil
        tlsLock.unlock()
        cancelLock.lock()
        finished = true
        Descriptors.close(cancelFD)
        cancelLock.unlock()
        Descriptors.close(cryptFD)
        Descriptors.close(plainFD)
        plainFD = nil
        owner.sessionEnded(self)
        server.sessionEnded(self)
    }
}
