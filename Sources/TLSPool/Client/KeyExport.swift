import CFDPass
import Foundation
import KXOver

extension TLSPoolSession {
    /// RFC 5705 / RFC 8446 §7.5 keying material from this session.
    ///
    /// `context` nil means "no context" (`in2_len` = -1); contexts are passed
    /// as (pointer, length) all the way, zero bytes included, never hashed or
    /// cut. When ctlkey + label + context fit the 350-byte PRNG buffer this
    /// is a standard `PIOC_PRNG_V2`; otherwise it is our local extension
    /// `PIOC_LOCAL_PRNG_LONG` (context in a sealed memfd), which a foreign
    /// pool refuses: that is reported as "exporter context of N bytes exceeds
    /// this pool's PRNG record" and no key material is produced.
    ///
    /// The result is zeroed when released; the reply record is wiped in place.
    public func exportKey(label: String, context: [UInt8]?, length: Int, timeout: Double = 10,
                          completion: @escaping (Result<KeyMaterial, TLSPoolError>) -> Void) {
        let request: ExporterRequest
        do {
            request = try ExporterRequest(ctlkey: ctlkey, label: Array(label.utf8), context: context, length: length)
        } catch {
            return completion(.failure(error as? TLSPoolError ?? .transport(error)))
        }
        let carrier: Int32?
        do {
            carrier = try request.contextCarrier()
        } catch {
            return completion(.failure(error as? TLSPoolError ?? .transport(error)))
        }
        defer { Descriptors.close(carrier) }   // the pool got its own duplicate
        do {
            try client.request(request.record, passing: carrier, timeout: timeout) { reply in
                completion(request.result(from: reply))
            }
        } catch {
            completion(.failure(error as? TLSPoolError ?? .transport(error)))
        }
    }
}

/// One key export: validation, the record to send, and reading the answer.
struct ExporterRequest {
    let record: TLSPoolRecord
    let context: [UInt8]?
    let length: Int
    var usesExtension: Bool { record.command == .prngLong }

    init(ctlkey: CtlKey, label: [UInt8], context: [UInt8]?, length: Int) throws {
        guard !label.isEmpty else { throw TLSPoolError(code: EINVAL, message: "empty exporter label") }
        guard (1...TLSPoolProtocol.prngBufferLength).contains(length) else {
            throw TLSPoolError(code: EINVAL, message: "exporter output of \(length) bytes is outside 1...350")
        }
        let room = TLSPoolProtocol.prngBufferLength - TLSPoolProtocol.ctlkeyLength
        guard label.count <= room else { throw TLSPoolError(code: EINVAL, message: "exporter label longer than \(room) bytes") }
        let contextLength = context?.count ?? 0
        guard contextLength <= TLSPoolProtocol.prngLongContextLimit else {
            throw TLSPoolError(code: EINVAL, message: "exporter context of \(contextLength) bytes exceeds \(TLSPoolProtocol.prngLongContextLimit)")
        }
        let fitsRecord = label.count + contextLength <= room
        var record = TLSPoolRecord(command: fitsRecord ? .prng : .prngLong)
        record.prng.in1Length = Int16(label.count)
        record.prng.in2Length = context.map { Int16($0.count) } ?? -1
        record.prng.prngLength = Int16(length)
        record.prng.buffer = ctlkey.bytes + label + (fitsRecord ? (context ?? []) : [])
        self.record = record
        self.context = context
        self.length = length
    }

    /// The sealed memfd holding the context, for the extension only.
    func contextCarrier() throws -> Int32? {
        guard usesExtension, let context else { return nil }
        let fd = context.withUnsafeBytes { raw in
            kx_fdpass_memfd("kxover-exporter-context", raw.baseAddress, raw.count)
        }
        guard fd >= 0 else { throw TLSPoolError(code: errno, message: "memfd for the exporter context: \(String(cString: strerror(errno)))") }
        return fd
    }

    func result(from reply: TLSPoolRecord) -> Result<KeyMaterial, TLSPoolError> {
        defer { reply.wipeStorage() }
        switch reply.command {
        case record.command:
            guard Int(reply.prng.prngLength) == length else {
                return .failure(.protocolViolation("PRNG answered with \(reply.prng.prngLength) bytes, asked for \(length)"))
            }
            let material = KeyMaterial(count: length)
            material.withUnsafeMutableBytes { out in
                reply.data.withUnsafeBytes { data in
                    out.copyMemory(from: UnsafeRawBufferPointer(rebasing: data[PRNGPayload.bufferOffset..<(PRNGPayload.bufferOffset + length)]))
                }
            }
            return .success(material)
        case .error:
            let error = TLSPoolError(record: reply)
            if usesExtension, error.knownCode == .commandUnknown {
                return .failure(TLSPoolError(.commandUnknown,
                    "exporter context of \(context?.count ?? 0) bytes exceeds this pool's PRNG record"))
            }
            return .failure(error)
        default:
            return .failure(.protocolViolation("PRNG answered with \(reply.command.name)"))
        }
    }
}
