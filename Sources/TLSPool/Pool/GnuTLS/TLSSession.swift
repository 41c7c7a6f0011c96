import CGnuTLS
import Foundation

/// One non-blocking GnuTLS session on a pool session's TCP socket. Every
/// call returns at once: GNUTLS_E_AGAIN means "call again once the socket is
/// ready" (`wantsWrite` says for what). Used on one event loop thread; after
/// the handshake the owner serialises it with the exporter by a lock.
final class TLSSession {
    enum Role { case client, server }

    let handle: gnutls_session_t
    private let transport: SocketTransport
    private let priority: TLSPriority

    /// `replay`: bytes read earlier from the same socket by another session,
    /// read again before the socket (`SocketTransport`).
    init(role: Role, cryptFD: Int32, priority: TLSPriority, replay: [UInt8] = []) throws {
        var session: gnutls_session_t?
        // GNUTLS_NONBLOCK also leaves out GnuTLS's own handshake timeout: the
        // session's deadline timer on the loop bounds the handshake instead.
        let flags = UInt32(role == .client ? GNUTLS_CLIENT : GNUTLS_SERVER) | UInt32(GNUTLS_NO_TICKETS) | UInt32(GNUTLS_NONBLOCK)
        let created = gnutls_init(&session, flags)
        guard created == GNUTLS_E_SUCCESS, let session else {
            throw TLSPoolSetupError("gnutls_init: \(GnuTLS.describe(created))")
        }
        handle = session
        self.priority = priority   // GnuTLS refers to the cache, it does not copy it
        transport = SocketTransport(fd: cryptFD, replay: replay)
        transport.install(on: session)
        let prioritised = gnutls_priority_set(session, priority.cache)
        guard prioritised == GNUTLS_E_SUCCESS else {
            throw TLSPoolSetupError("priority \"\(priority.text)\": \(GnuTLS.describe(prioritised))")
        }
    }

    private var credentialsOwner: AnyObject?

    deinit {
        gnutls_deinit(handle)
    }

    /// GnuTLS keeps a pointer to `credentials`, not a copy: `owner` (their
    /// store, which a reload may replace) lives as long as this session.
    func setCredentials(_ credentials: gnutls_certificate_credentials_t, owner: AnyObject) -> Int32 {
        credentialsOwner = owner
        return gnutls_credentials_set(handle, GNUTLS_CRD_CERTIFICATE, UnsafeMutableRawPointer(credentials))
    }

    func setServerName(_ host: String) -> Int32 {
        gnutls_server_name_set(handle, GNUTLS_NAME_DNS, host, host.utf8.count)
    }

    /// The SNI host name a client sent, if any.
    func requestedServerName() -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        var length = buffer.count
        var type: UInt32 = 0
        guard gnutls_server_name_get(handle, &buffer, &length, &type, 0) == GNUTLS_E_SUCCESS,
              type == UInt32(GNUTLS_NAME_DNS.rawValue) else { return nil }
        return String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func requireClientCertificate() {
        gnutls_certificate_server_set_request(handle, GNUTLS_CERT_REQUIRE)
    }

    /// Advances the handshake as far as the socket allows: GNUTLS_E_SUCCESS,
    /// GNUTLS_E_AGAIN (wait for `wantsWrite` or readable, then call again)
    /// or a fatal error.
    func handshakeStep() -> Int32 {
        while true {
            let result = gnutls_handshake(handle)
            if result >= 0 || result == GNUTLS_E_AGAIN || gnutls_error_is_fatal(result) != 0 { return result }
        }
    }

    /// After GNUTLS_E_AGAIN: whether GnuTLS waits to write (else to read).
    var wantsWrite: Bool { gnutls_record_get_direction(handle) == 1 }

    /// Keep what is read from the socket from now on, for `takeRecorded`.
    func startRecording() { transport.recording = true }

    /// What was read while recording; nil if it outgrew the bound.
    func takeRecorded() -> [UInt8]? {
        transport.recordingOverflowed ? nil : transport.takeRecorded()
    }

    /// Tells the peer why, where GnuTLS knows an alert for `error`.
    func sendAlert(for error: Int32) {
        _ = gnutls_alert_send_appropriate(handle, error)
    }

    func sendFatalAlert(_ description: gnutls_alert_description_t) {
        _ = gnutls_alert_send(handle, GNUTLS_AL_FATAL, description)
    }

    /// The last alert the peer sent, as our ERROR messages name it.
    var receivedAlertNote: TLSAlertNote {
        let alert = gnutls_alert_get(handle)
        return TLSAlertNote(.received, code: UInt8(truncatingIfNeeded: alert.rawValue), name: Self.name(of: alert))
    }

    /// The RFC name of an alert, e.g. `certificate_expired` (GnuTLS spells it `GNUTLS_A_CERTIFICATE_EXPIRED`).
    static func name(of alert: gnutls_alert_description_t) -> String {
        guard let name = gnutls_alert_get_strname(alert).map({ String(cString: $0) }) else { return "alert_\(alert.rawValue)" }
        return (name.hasPrefix("GNUTLS_A_") ? String(name.dropFirst(9)) : name).lowercased()
    }

    var isTLS13: Bool { gnutls_protocol_get_version(handle) == GNUTLS_TLS1_3 }

    var summary: String {
        var buffer = [CChar](repeating: 0, count: 160)
        kx_gnutls_session_description(handle, &buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The peer's certificate chain (DER), end entity first.
    func peerChain() -> [[UInt8]] {
        var count: UInt32 = 0
        guard let list = gnutls_certificate_get_peers(handle, &count) else { return [] }
        return (0..<Int(count)).map { index in
            let datum = list[index]
            guard let data = datum.data else { return [] }
            return Array(UnsafeBufferPointer(start: data, count: Int(datum.size)))
        }
    }

    /// Our own certificate as sent in the handshake.
    func ownCertificate() -> [UInt8]? {
        guard let datum = gnutls_certificate_get_ours(handle)?.pointee, let data = datum.data else { return nil }
        return Array(UnsafeBufferPointer(start: data, count: Int(datum.size)))
    }

    /// RFC 5705 / RFC 8446 §7.5 export into `output`; nil context = absent.
    func exportKeyingMaterial(label: [UInt8], context: [UInt8]?, into output: UnsafeMutableRawBufferPointer) -> Int32 {
        label.withUnsafeBytes { labelBytes in
            let labelPointer = labelBytes.baseAddress!.assumingMemoryBound(to: CChar.self)
            guard let context else {
                return gnutls_prf_rfc5705(handle, label.count, labelPointer, 0, nil, output.count, output.baseAddress)
            }
            // An empty context still needs a non-NULL pointer to mean "present".
            let carrier = context.isEmpty ? [UInt8(0)] : context
            return carrier.withUnsafeBytes { contextBytes in
                gnutls_prf_rfc5705(handle, label.count, labelPointer, context.count,
                                   contextBytes.baseAddress!.assumingMemoryBound(to: CChar.self), output.count, output.baseAddress)
            }
        }
    }

    // MARK: - Relay

    var pendingBytes: Int { gnutls_record_check_pending(handle) }

    func receive(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        gnutls_record_recv(handle, buffer.baseAddress, buffer.count)
    }

    func send(_ bytes: UnsafeRawBufferPointer) -> Int {
        gnutls_record_send(handle, bytes.baseAddress, bytes.count)
    }

    /// close_notify; GNUTLS_E_AGAIN when the socket had no room (call again).
    func closeWrite() -> Int32 {
        gnutls_bye(handle, GNUTLS_SHUT_WR)
    }

    /// Installs the hook that runs after the ClientHello is parsed (server role).
    func setPostClientHelloHook(context: UnsafeMutableRawPointer, _ hook: gnutls_handshake_simple_hook_func) {
        gnutls_session_set_ptr(handle, context)
        gnutls_handshake_set_post_client_hello_function(handle, hook)
    }
}
