import Foundation

/// Whose certificate an INFO check looks at.
public enum CertificateSide: Sendable {
    case peer, mine

    var subjectAltNameKind: InfoKind { self == .peer ? .peerCertSubjectAltName : .myCertSubjectAltName }
}

extension TLSPoolSession {
    /// Asks the pool whether `side`'s certificate carries exactly this
    /// GeneralName (complete TLV) as a SubjectAltName: `PIOC_INFO_V2` with
    /// PIOK_INFO_*CERT_SUBJECTALTNAME. An echo means yes,
    /// E_TLSPOOL_INFO_NOT_FOUND means no; anything else is a failure.
    public func checkSubjectAltName(_ side: CertificateSide, generalName: [UInt8], timeout: Double = 10,
                                    completion: @escaping (Result<Bool, TLSPoolError>) -> Void) {
        guard !generalName.isEmpty, generalName.count < TLSPoolProtocol.infoBufferLength else {
            return completion(.failure(TLSPoolError(code: EINVAL, message: "GeneralName of \(generalName.count) bytes does not fit INFO")))
        }
        var record = TLSPoolRecord(command: .info)
        record.info.ctlkey = ctlkey
        record.info.kind = side.subjectAltNameKind
        record.info.length = UInt16(generalName.count)
        record.info.buffer = generalName
        do {
            try client.request(record, timeout: timeout) { reply in
                switch reply.command {
                case .info: completion(.success(true))
                case .error:
                    let error = TLSPoolError(record: reply)
                    completion(error.knownCode == .infoNotFound ? .success(false) : .failure(error))
                default: completion(.failure(.protocolViolation("INFO answered with \(reply.command.name)")))
                }
            }
        } catch {
            completion(.failure(error as? TLSPoolError ?? .transport(error)))
        }
    }

    /// True when `side`'s certificate names krbtgt/REALM@REALM (name-type 2
    /// or 1; one INFO check per candidate until one matches).
    public func checkKDCRealm(_ side: CertificateSide, realm: String, timeout: Double = 10,
                              completion: @escaping (Result<Bool, TLSPoolError>) -> Void) {
        checkCandidates(side, KDCGeneralName.acceptedNameTypes.map { KDCGeneralName.krbtgt(realm: realm, nameType: $0) },
                        timeout: timeout, completion: completion)
    }

    private func checkCandidates(_ side: CertificateSide, _ candidates: [[UInt8]], timeout: Double,
                                 completion: @escaping (Result<Bool, TLSPoolError>) -> Void) {
        guard let first = candidates.first else { return completion(.success(false)) }
        checkSubjectAltName(side, generalName: first, timeout: timeout) { [weak self] result in
            switch result {
            case .success(false):
                guard let self else { return completion(.failure(.disconnected)) }
                self.checkCandidates(side, Array(candidates.dropFirst()), timeout: timeout, completion: completion)
            default:
                completion(result)
            }
        }
    }
}
