import Foundation
import KXEventLoop

/// One STARTTLS through the pool for one TCP connection: the shared state
/// record of the message flow (spec §2, seed "Callbacks and State Diagrams
/// combine well"). Each stage is a method named after the event that moves
/// it on; every pool record arrives through `poolAnswered`.
///
///     unprotected ─PING→ identityAndFeatures ─→ introduced ─STARTTLS+fd→ handshake
///       handshake ─LOCALID cb→ localIdentityCheck ─accept/decline→ handshake
///       handshake ─PLAINTEXT_CONNECT cb→ reconnect ─socketpair end→ handshake
///       handshake ─final STARTTLS→ protected        any ─ERROR/timeout→ failed
///
/// Completion is reported exactly once. The exchange keeps itself alive
/// while a request of it is pending in the client. What it holds goes with
/// the stage (`Held`): the TCP socket is ours from `init` and closed once the
/// pool holds its duplicate; then the pool's pending answer and our
/// socketpair end, which goes to the session on success. One unwinding,
/// `fail`, releases whatever is held.
public final class StartTLS {
    public enum Stage: String, Sendable {
        case unprotected, identityAndFeatures, introduced, handshake, localIdentityCheck, reconnect, protected, failed
    }

    /// The application's answer to the pool's proposed local identity.
    public enum LocalIDDecision: Sendable {
        /// Use `localID` (usually the proposal, echoed).
        case accept(localID: String)
        /// As `accept`, and attach the plaintext socket now, skipping PLAINTEXT_CONNECT.
        case acceptAttachingPlaintext(localID: String)
        /// Refuse: the pool aborts the handshake.
        case decline(code: Int32, message: String)
    }

    public typealias LocalIDHandler = (_ proposedLocalID: String, _ remoteID: String) -> LocalIDDecision
    public typealias Completion = (Result<TLSPoolSession, TLSPoolError>) -> Void

    public let client: TLSPoolClient
    public let parameters: StartTLSParameters
    public let ctlkey: CtlKey
    public private(set) var stage: Stage = .unprotected
    /// Every stage entered, in order (for logs and tests).
    public private(set) var transcript: [Stage] = [.unprotected]

    /// What the exchange holds, by stage of the table above.
    private enum Held {
        /// unprotected, identityAndFeatures, introduced: our TCP socket.
        case tcpSocket(Int32)
        /// handshake, localIdentityCheck, reconnect: the request the pool owes
        /// an answer to, and our end of the plaintext socketpair once made.
        case inPool(awaitedReqid: UInt16?, plaintextEnd: Int32?)
        /// protected, failed: nothing.
        case nothing
    }

    private let localIDHandler: LocalIDHandler?
    private var completion: Completion?
    private var held: Held
    private var deadline: Watch?

    public init(client: TLSPoolClient, tcpSocket: Int32, parameters: StartTLSParameters,
                localIDHandler: LocalIDHandler? = nil, completion: @escaping Completion) {
        self.client = client
        held = .tcpSocket(tcpSocket)
        self.parameters = parameters
        self.localIDHandler = localIDHandler
        self.completion = completion
        ctlkey = CtlKey.random()
    }

    deinit {
        deadline?.cancel()
        closeHeldDescriptors()
    }

    /// Begins the exchange: PING once per pool connection, then STARTTLS.
    public func start() {
        do {
            try parameters.validate()
        } catch {
            return fail(error as? TLSPoolError ?? .transport(error))
        }
        let seconds = parameters.exchangeTimeout
        deadline = client.loop.schedule(after: seconds) { [weak self] in
            self?.fail(.timedOut("STARTTLS through the TLS Pool", after: seconds))
        }
        if client.introduction == nil { sendPing() } else { introduced() }
    }

    /// Gives up (e.g. the crossover was cancelled); reports ECANCELED once.
    public func abandon() {
        fail(TLSPoolError(code: ECANCELED, message: "STARTTLS abandoned by the application"))
    }

    // MARK: - Stages

    private func sendPing() {
        enter(.identityAndFeatures)
        // Handlers hold the exchange strongly: it lives while the pool owes it an answer.
        client.ping(timeout: parameters.exchangeTimeout) { result in
            guard self.completion != nil else { return }
            switch result {
            case .success: self.introduced()
            case .failure(let error): self.fail(error)
            }
        }
    }

    private func introduced() {
        enter(.introduced)
        sendStartTLS()
    }

    private func sendStartTLS() {
        guard case .tcpSocket(let tcp) = held else { return fail(.protocolViolation("STARTTLS without its TCP socket")) }
        enter(.handshake)
        held = .inPool(awaitedReqid: nil, plaintextEnd: nil)
        send(parameters.record(ctlkey: ctlkey), passing: tcp)
        // The pool holds its own duplicate now; ours would keep the TCP
        // connection open after the pool closes it.
        Descriptors.close(tcp)
    }

    /// Every pool record of this exchange arrives here.
    private func poolAnswered(_ record: TLSPoolRecord) {
        awaiting(nil)
        guard completion != nil else { return }
        switch record.command {
        case .startTLSLocalID: localIdentityRequested(record)
        case .plaintextConnect: plaintextRequested(record)
        case .startTLS: protectedReplyArrived(record)
        case .error: fail(TLSPoolError(record: record))
        default:
            if TLSPoolClient.isCallback(record) {
                decline(record, TLSPoolError(.clientRefusesCallback, "\(record.command.name) is not part of STARTTLS"))
            }
            fail(.protocolViolation("unexpected \(record.command.name) during STARTTLS"))
        }
    }

    private func localIdentityRequested(_ callback: TLSPoolRecord) {
        enter(.localIdentityCheck)
        let proposal = callback.starttls
        let decision = localIDHandler?(proposal.localID, proposal.remoteID)
            ?? .decline(code: TLSPoolErrorCode.clientRefusesCallback.rawValue, message: "no local identity handler")
        switch decision {
        case .accept(let localID), .acceptAttachingPlaintext(let localID):
            guard FixedStringField.fits(localID) else {
                decline(callback, TLSPoolError(code: EINVAL, message: "local identity does not fit the record"))
                return
            }
            var response = callback   // echo the whole payload, edit only localid
            response.starttls.localID = localID
            if case .acceptAttachingPlaintext = decision, plaintextEnd != nil {
                decline(callback, TLSPoolError(.commandBadCallbackResponse, "plaintext socket already attached"))
                return
            }
            enter(.handshake)
            if case .acceptAttachingPlaintext = decision {
                sendWithFreshPlaintextSocket(response)
            } else {
                send(response, passing: nil)
            }
        case .decline(let code, let message):
            // The pool answers the decline with a final ERROR, which fails us.
            decline(callback, TLSPoolError(code: code, message: message))
        }
    }

    private func plaintextRequested(_ callback: TLSPoolRecord) {
        enter(.reconnect)
        guard plaintextEnd == nil else {
            decline(callback, TLSPoolError(.commandBadCallbackResponse, "plaintext socket already attached"))
            return
        }
        enter(.handshake)
        sendWithFreshPlaintextSocket(callback)
    }

    private func protectedReplyArrived(_ reply: TLSPoolRecord) {
        let final = reply.starttls
        guard final.ctlkey == ctlkey else {
            return fail(.protocolViolation("final STARTTLS carries a different ctlkey"))
        }
        guard let plaintext = plaintextEnd else {
            return fail(.protocolViolation("final STARTTLS before any plaintext socket was attached"))
        }
        held = .nothing   // the plaintext end is the session's now
        enter(.protected)
        let session = TLSPoolSession(client: client, ctlkey: ctlkey, plaintextFD: plaintext,
                                     localID: final.localID, remoteID: final.remoteID, flags: final.flags)
        finish(.success(session))
    }

    // MARK: - Helpers

    private func enter(_ next: Stage) {
        stage = next
        transcript.append(next)
    }

    /// Records the request the pool now owes an answer to (nil: none).
    private func awaiting(_ reqid: UInt16?) {
        if case .inPool(_, let plaintext) = held { held = .inPool(awaitedReqid: reqid, plaintextEnd: plaintext) }
    }

    /// Our end of the plaintext socketpair, once one was made.
    private var plaintextEnd: Int32? {
        if case .inPool(_, let plaintext) = held { plaintext } else { nil }
    }

    /// Sends one record of the exchange as a new request (fresh reqid).
    private func send(_ record: TLSPoolRecord, passing fd: Int32?) {
        do {
            let reqid = try client.request(record, passing: fd) { reply in
                self.poolAnswered(reply)
            }
            awaiting(reqid)
        } catch {
            fail(error as? TLSPoolError ?? .transport(error))
        }
    }

    /// Makes the socketpair, sends the pool's end with `record`, keeps ours.
    private func sendWithFreshPlaintextSocket(_ record: TLSPoolRecord) {
        let ours: Int32, theirs: Int32
        do {
            (ours, theirs) = try Descriptors.socketPair(type: Descriptors.socketType(forIPProtocol: parameters.ipProtocol))
        } catch {
            decline(record, TLSPoolError(code: EMFILE, message: "no socketpair for the plaintext side"))
            return fail(.transport(error))
        }
        held = .inPool(awaitedReqid: nil, plaintextEnd: ours)
        send(record, passing: theirs)
        Descriptors.close(theirs)
    }

    /// Answers `callback` with ERROR (its cbid kept), so the pool thread moves on.
    private func decline(_ callback: TLSPoolRecord, _ reason: TLSPoolError) {
        send(TLSPoolRecord.error(reason.code, reason.message, cbid: callback.cbid), passing: nil)
    }

    /// The one unwinding: whatever the stage holds is released, then the
    /// failure is reported (once).
    private func fail(_ error: TLSPoolError) {
        guard completion != nil else { return }
        enter(.failed)
        if case .inPool(let reqid?, _) = held { client.cancel(reqid) }   // a late reply is dropped, a late callback refused
        closeHeldDescriptors()
        finish(.failure(error))
    }

    private func closeHeldDescriptors() {
        switch held {
        case .tcpSocket(let fd): Descriptors.close(fd)
        case .inPool(_, let plaintext): Descriptors.close(plaintext)
        case .nothing: break
        }
        held = .nothing
    }

    private func finish(_ result: Result<TLSPoolSession, TLSPoolError>) {
        deadline?.cancel()
        deadline = nil
        let report = completion
        completion = nil
        report?(result)
    }
}
