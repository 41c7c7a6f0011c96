import Foundation
import KXOver

/// A failure reported by the pool (an ERROR record) or synthesised locally
/// with a POSIX errno (disconnect, timeout, a send that failed).
public struct TLSPoolError: Error, Hashable, Sendable, CustomStringConvertible {
    /// `pioc_error.tlserrno`: an E_TLSPOOL_* code, a POSIX errno, or another com_err code.
    public let code: Int32
    public let message: String

    public init(code: Int32, message: String) {
        self.code = code
        self.message = message
    }

    public init(_ code: TLSPoolErrorCode, _ message: String) {
        self.init(code: code.rawValue, message: message)
    }

    /// The error carried by an ERROR record.
    public init(record: TLSPoolRecord) {
        self.init(code: record.error.code, message: record.error.message)
    }

    public var knownCode: TLSPoolErrorCode? { TLSPoolErrorCode(rawValue: code) }
    public var name: String { TLSPoolErrorCode.name(of: code) }
    public var description: String { message.isEmpty ? name : "\(name): \(message)" }

    /// How a crossover exchange reports it.
    public var kxError: KXError { KXError(.tls, description) }

    /// How an exchange reports this pool error: a TLS alert the peer sent is
    /// that peer's refusal (code TLS); anything else is our TLS failure.
    public func kxError(peer: String?) -> KXError {
        guard let alert = alertFromPeer, let peer else { return kxError }
        return KXError(.tls, "alert \(alert.name) (\(alert.code))" + (alert.isAboutCertificate ? ": our certificate was not accepted" : ""),
                       refusedBy: peer)
    }

    static let disconnected = TLSPoolError(code: EPIPE, message: "Disconnected from the TLS Pool")

    static func timedOut(_ what: String, after seconds: Double) -> TLSPoolError {
        TLSPoolError(code: ETIMEDOUT, message: "\(what) timed out after \(formatSeconds(seconds)) s")
    }

    static func transport(_ error: Error) -> TLSPoolError {
        if let transport = error as? TLSPoolTransportError {
            return TLSPoolError(code: transport.errnoValue, message: transport.description)
        }
        return TLSPoolError(code: EIO, message: "\(error)")
    }

    static func protocolViolation(_ what: String) -> TLSPoolError {
        TLSPoolError(code: EPROTO, message: what)
    }

    /// The ERROR record that reports this error locally to a pending request.
    func record(reqid: UInt16) -> TLSPoolRecord {
        TLSPoolRecord.error(code, message, reqid: reqid)
    }
}

func formatSeconds(_ seconds: Double) -> String {
    seconds == seconds.rounded() ? String(Int(seconds)) : String(format: "%.3g", seconds)
}
