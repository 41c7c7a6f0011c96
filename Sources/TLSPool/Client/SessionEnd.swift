import Foundation

extension TLSPoolSession {
    /// After the plaintext socket closed unexpectedly: asks the pool about
    /// the session (an INFO query on its ctlkey). nil when it still lives (the
    /// peer closed in order) or the pool could not be asked; else the pool's
    /// ERROR, whose message says why the session ended when our pool knows
    /// (`TLSPoolError.alertFromPeer`).
    public func askWhyEnded(timeout: Double = 2, completion: @escaping (TLSPoolError?) -> Void) {
        var record = TLSPoolRecord(command: .info)
        record.info.ctlkey = ctlkey
        record.info.kind = .peerCertSubject
        record.info.length = InfoKind.queryLength
        do {
            try client.request(record, timeout: timeout) { reply in
                completion(reply.command == .error ? TLSPoolError(record: reply) : nil)
            }
        } catch {
            completion(nil)
        }
    }
}

extension TLSPoolError {
    /// The TLS alert the peer sent, when our pool's message names it: the
    /// peer refused (e.g. our certificate).
    public var alertFromPeer: TLSAlertNote? {
        TLSAlertNote(message: message).flatMap { $0.direction == .received ? $0 : nil }
    }

    /// The TLS alert our pool sent the peer, refusing its certificate.
    public var alertToPeer: TLSAlertNote? {
        TLSAlertNote(message: message).flatMap { $0.direction == .sent ? $0 : nil }
    }
}
