/// The com_err table `tlsP` (spec §1.9): `pioc_error.tlserrno` values the
/// pool sends. POSIX errnos (1...255) and other com_err tables may also appear.
public enum TLSPoolErrorCode: Int32, CaseIterable, Sendable {
    public static let base: Int32 = -1_167_372_288   // 0xBA6B5000 as int32

    case outOfMemory = -1167372288
    case entangledThreads
    case clientDisconnect
    case clientRefusesCallback
    case commandNeeded
    case superfluousSocket
    case cipherSocketNeeded
    case plainSocketNeeded
    case commandUnknown
    case commandNotImplemented
    case commandBadCallbackResponse
    case facilityStartTLS
    case facilityStartGSS
    case facilityStartSSH
    case ctlkeyRegistrationFailed
    case ctlkeyNotFound
    case ctlkeyNotYours
    case ctlkeyDetached
    case ctlkeyAttached
    case renegotiateNotFound
    case renegotiateNotInterruptable
    case renegotiateWouldBeInsecure
    case connectionHandlerSetup
    case connectionDriverSetup
    case stirredNotShaken
    case prngUnavailable
    case lidEntryNotVacant
    case pinEntryNotVacant
    case infoKindUnknown
    case infoNotFound

    /// The upstream name, e.g. `E_TLSPOOL_COMMAND_UNKNOWN` (upstream's own
    /// spelling, including `RENOGIATE`).
    public var name: String {
        let suffix: String
        switch self {
        case .outOfMemory: suffix = "OUT_OF_MEMORY"
        case .entangledThreads: suffix = "ENTANGLED_THREADS"
        case .clientDisconnect: suffix = "CLIENT_DISCONNECT"
        case .clientRefusesCallback: suffix = "CLIENT_REFUSES_CALLBACK"
        case .commandNeeded: suffix = "COMMAND_NEEDED"
        case .superfluousSocket: suffix = "SUPERFLUOUS_SOCKET"
        case .cipherSocketNeeded: suffix = "CIPHER_SOCKET_NEEDED"
        case .plainSocketNeeded: suffix = "PLAIN_SOCKET_NEEDED"
        case .commandUnknown: suffix = "COMMAND_UNKNOWN"
        case .commandNotImplemented: suffix = "COMMAND_NOTIMPL"
        case .commandBadCallbackResponse: suffix = "COMMAND_BAD_CALLBACK_RESPONSE"
        case .facilityStartTLS: suffix = "FACILITY_STARTTLS"
        case .facilityStartGSS: suffix = "FACILITY_STARTGSS"
        case .facilityStartSSH: suffix = "FACILITY_STARTSSH"
        case .ctlkeyRegistrationFailed: suffix = "CTLKEY_REGISTRATION_FAILED"
        case .ctlkeyNotFound: suffix = "CTLKEY_NOT_FOUND"
        case .ctlkeyNotYours: suffix = "CTLKEY_NOT_YOURS"
        case .ctlkeyDetached: suffix = "CTLKEY_DETACHED"
        case .ctlkeyAttached: suffix = "CTLKEY_ATTACHED"
        case .renegotiateNotFound: suffix = "RENOGIATE_NOT_FOUND"
        case .renegotiateNotInterruptable: suffix = "RENOGIATE_NOT_INTERRUPTABLE"
        case .renegotiateWouldBeInsecure: suffix = "RENOGIATE_WOULD_BE_INSECURE"
        case .connectionHandlerSetup: suffix = "CONNECTION_HANDLER_SETUP"
        case .connectionDriverSetup: suffix = "CONNECTION_DRIVER_SETUP"
        case .stirredNotShaken: suffix = "STIRRED_NOT_SHAKEN"
        case .prngUnavailable: suffix = "PRNG_UNAVAILABLE"
        case .lidEntryNotVacant: suffix = "LIDENTRY_NOT_VACANT"
        case .pinEntryNotVacant: suffix = "PINENTRY_NOT_VACANT"
        case .infoKindUnknown: suffix = "INFOKIND_UNKNOWN"
        case .infoNotFound: suffix = "INFO_NOT_FOUND"
        }
        return "E_TLSPOOL_" + suffix
    }

    /// The name for any `tlserrno`: a table entry, a POSIX errno, or the number.
    public static func name(of code: Int32) -> String {
        if let known = TLSPoolErrorCode(rawValue: code) { return known.name }
        if let posix = posixNames[code] { return posix }
        return String(code)
    }

    private static let posixNames: [Int32: String] = [
        1: "EPERM", 2: "ENOENT", 4: "EINTR", 5: "EIO", 9: "EBADF", 11: "EAGAIN", 12: "ENOMEM", 13: "EACCES",
        22: "EINVAL", 32: "EPIPE", 38: "ENOSYS", 71: "EPROTO", 95: "EOPNOTSUPP", 104: "ECONNRESET",
        110: "ETIMEDOUT", 111: "ECONNREFUSED", 125: "ECANCELED",
    ]
}
