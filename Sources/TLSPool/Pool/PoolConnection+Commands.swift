import CGnuTLS
import Foundation

/// The commands a pool connection answers inline on its reader thread.
extension PoolConnection {
    func answerPing(_ request: TLSPoolRecord) {
        var answer = request
        answer.ping.identity = TLSPoolProtocol.identityV2
        answer.ping.facilities = request.ping.facilities.intersection(server.configuration.facilities)
        answer.cbid = 0
        reply(answer)
    }

    /// PIOC_PRNG_V2 and our PIOC_LOCAL_PRNG_LONG (context from `contextCarrier`).
    func answerExport(_ request: TLSPoolRecord, contextCarrier: Int32?) {
        let prng = request.prng
        let fail = { (code: TLSPoolErrorCode, message: String) in
            self.reply(.error(code, message, reqid: request.reqid))
        }
        guard server.configuration.facilities.contains(.startTLS) else {
            return fail(.facilityStartTLS, "the STARTTLS facility is disabled")
        }
        let labelLength = Int(prng.in1Length), contextLength = Int(prng.in2Length), outputLength = Int(prng.prngLength)
        let room = TLSPoolProtocol.prngBufferLength - TLSPoolProtocol.ctlkeyLength
        guard labelLength > 0, (1...TLSPoolProtocol.prngBufferLength).contains(outputLength) else {
            return fail(.prngUnavailable, "PRNG lengths out of range")
        }
        let isLong = request.command == .prngLong
        guard isLong ? labelLength <= room : labelLength + max(contextLength, 0) <= room else {
            return fail(.prngUnavailable, "PRNG label and context exceed the \(TLSPoolProtocol.prngBufferLength)-byte buffer")
        }
        guard let label = prng.label, server.configuration.exporterLabels.allows(label) else {
            return fail(.prngUnavailable, "exporter label not allowed")
        }
        guard let session = server.registry.session(for: prng.ctlkey, requester: self) else {
            return fail(.ctlkeyNotFound, server.registry.notFoundMessage(for: prng.ctlkey, requester: self))
        }
        var context: [UInt8]?
        if isLong {
            switch ContextCarrier.read(contextCarrier, length: contextLength) {
            case .success(let bytes): context = bytes
            case .failure(let problem): return fail(.prngUnavailable, problem.message)
            }
        } else if contextLength >= 0 {
            context = prng.context
        }
        defer { context?.wipe() }

        var output = [UInt8](repeating: 0, count: outputLength)
        defer { output.wipe() }
        if let problem = session.exportKeyingMaterial(label: label, context: context, into: &output) {
            return fail(problem.code, problem.message)
        }
        var answer = request
        answer.cbid = 0
        answer.prng.zeroBuffer()   // ctlkey, label and context do not go back
        answer.prng.buffer = output
        reply(answer)
        answer.wipeStorage()
    }

    func answerInfo(_ request: TLSPoolRecord) {
        guard let session = server.registry.session(for: request.info.ctlkey, requester: self) else {
            return reply(.error(.ctlkeyNotFound, server.registry.notFoundMessage(for: request.info.ctlkey, requester: self), reqid: request.reqid))
        }
        switch InfoAnswer.answer(request, peer: session.peerNames, mine: session.ownNames) {
        case .success(let answer): reply(answer)
        case .failure(let problem): reply(.error(problem.code, problem.message, reqid: request.reqid))
        }
    }

    func answerControl(_ request: TLSPoolRecord) {
        let ctlkey = request.control.ctlkey
        let problem = request.command == .controlDetach
            ? server.registry.detach(ctlkey, requester: self)
            : server.registry.reattach(ctlkey, requester: self)
        if let problem {
            reply(.error(problem, "\(request.command.name) refused", reqid: request.reqid))
        } else {
            var success = request
            success.command = .success
            reply(success)
        }
    }
}

/// A refusal to send as ERROR. For a peer certificate we refuse, `alert`
/// is the TLS alert that tells the peer why.
struct PoolProblem: Error {
    let code: TLSPoolErrorCode
    let message: String
    let alert: gnutls_alert_description_t?
    init(_ code: TLSPoolErrorCode, _ message: String, alert: gnutls_alert_description_t? = nil) {
        self.code = code
        self.message = message
        self.alert = alert
    }
}

/// The out-of-band context of PIOC_LOCAL_PRNG_LONG: a memfd (or any regular
/// file) holding exactly `in2_len` bytes, read with pread from offset 0.
enum ContextCarrier {
    static func read(_ fd: Int32?, length: Int) -> Result<[UInt8]?, PoolProblem> {
        if length < 0 { return .success(nil) }   // "no context", like PRNG
        guard let fd else {
            return length == 0 ? .success([]) : .failure(PoolProblem(.prngUnavailable, "PRNG_LONG without its context descriptor"))
        }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            return .failure(PoolProblem(.prngUnavailable, "PRNG_LONG context descriptor is not a regular file"))
        }
        guard Int(info.st_size) == length else {
            return .failure(PoolProblem(.prngUnavailable, "PRNG_LONG context holds \(info.st_size) bytes, in2_len says \(length)"))
        }
        var bytes = [UInt8](repeating: 0, count: length)
        var offset = 0
        while offset < length {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + offset, length - offset, off_t(offset)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                bytes.wipe()
                return .failure(PoolProblem(.prngUnavailable, "PRNG_LONG context could not be read"))
            }
            offset += n
        }
        return .success(bytes)
    }
}

/// PIOC_INFO_V2 against the certificates captured after the handshake.
enum InfoAnswer {
    static func answer(_ request: TLSPoolRecord, peer: CertificateNames?, mine: CertificateNames?) -> Result<TLSPoolRecord, PoolProblem> {
        let info = request.info
        let kind = info.kind
        var answer = request
        answer.cbid = 0
        let names = kind.rawValue & InfoKind.myCertificateBit != 0 ? mine : peer
        switch kind {
        case .peerCertSubjectAltName, .myCertSubjectAltName:
            guard let wanted = info.checkValue else {
                return .failure(PoolProblem(.commandNotImplemented, "INFO SubjectAltName is a check: len must be below 334"))
            }
            guard let names, names.subjectAltNames.contains(wanted) else {
                return .failure(PoolProblem(.infoNotFound, "no such SubjectAltName"))
            }
            return .success(answer)
        case .peerCertSubject, .peerCertIssuer, .myCertSubject, .myCertIssuer:
            let isSubject = kind == .peerCertSubject || kind == .myCertSubject
            guard let names else { return .failure(PoolProblem(.infoNotFound, "no certificate")) }
            let value = isSubject ? names.subject : names.issuer
            if info.length == InfoKind.queryLength {
                guard value.count <= TLSPoolProtocol.infoBufferLength else {
                    return .failure(PoolProblem(.infoNotFound, "the Name does not fit the INFO buffer"))
                }
                answer.info.buffer = value
                answer.info.length = UInt16(value.count)
                return .success(answer)
            }
            guard let wanted = info.checkValue, wanted == value else {
                return .failure(PoolProblem(.infoNotFound, "the Name differs"))
            }
            return .success(answer)
        case .channelBindingTLSUnique, .channelBindingTLSServerEndPoint:
            return .failure(PoolProblem(.infoNotFound, "no such channel binding for TLS 1.3"))
        default:
            return .failure(PoolProblem(.infoKindUnknown, "unknown info_kind 0x\(String(kind.rawValue, radix: 16))"))
        }
    }
}
