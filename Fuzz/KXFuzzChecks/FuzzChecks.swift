import KXOver

/// The properties the fuzzers and the regression replay check for any input.
/// A violated property traps, which libFuzzer reports as a finding.
public enum FuzzChecks {
    public static func decoders(_ bytes: [UInt8]) {
        if let message = try? KXMessage(derEncoded: bytes) {
            let again = try? KXMessage(derEncoded: message.derEncoded)
            precondition(again == message, "KX message does not round-trip")
            _ = try? OfferChecks.checkRequest(message.offer, now: message.offer.requestTime)
            _ = try? KeySchedule.merge(request: message.offer, reply: message.offer)
            _ = try? KeySchedule.layout(request: message.offer, reply: message.offer)
        }
        if let info = try? KeyInfo(derEncoded: bytes) {
            precondition(info.derEncoded == bytes, "KEY-INFO accepted non-canonical input")
        }
        if let error = try? KRBError(derEncoded: bytes) {
            precondition((try? KRBError(derEncoded: error.derEncoded)) != nil, "KRB-ERROR does not re-decode")
        }
        _ = try? KDCRequestPeek(derEncoded: bytes)
        _ = try? Principal(derEncoded: bytes)
        _ = try? MessageInspector.inspect(bytes)
    }

    /// The first byte picks the record type, the rest is its rdata. A parser
    /// either refuses or gives a value that accounts for every rdata byte.
    public static func dnsRecords(_ input: [UInt8]) {
        guard let selector = input.first else { return }
        let rdata = Array(input.dropFirst())
        switch selector % 5 {
        case 0:
            if let srv = DNSRecords.srv(rdata) {
                var wire = [UInt8(srv.priority >> 8), UInt8(srv.priority & 0xFF), UInt8(srv.weight >> 8), UInt8(srv.weight & 0xFF),
                            UInt8(srv.port >> 8), UInt8(srv.port & 0xFF)]
                for label in srv.target.split(separator: ".") { wire += [UInt8(label.utf8.count)] + Array(label.utf8) }
                wire.append(0)
                // Targets come back lower case; label length octets are < 64, never letters.
                let expected = Array(rdata.prefix(6)) + rdata.dropFirst(6).map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 }
                precondition(wire == expected, "SRV does not re-encode to its rdata")
            }
        case 1:
            if let tlsa = DNSRecords.tlsa(rdata) { precondition(tlsa.rdata == rdata, "TLSA does not re-encode") }
        case 2:
            precondition((DNSRecords.a(rdata) != nil) == (rdata.count == 4), "A accepted a wrong length")
        case 3:
            if let text = DNSRecords.aaaa(rdata) {
                precondition(rdata.count == 16 && text.count <= 39 && !text.contains(":::"), "AAAA text malformed")
            } else {
                precondition(rdata.count != 16, "AAAA refused 16 bytes")
            }
        default:
            if let string = DNSRecords.firstString(rdata) {
                precondition(string.count == Int(rdata[0]), "TXT string of the wrong length")
                _ = RealmName.isValid(String(decoding: string, as: UTF8.self))
            }
        }
    }

    /// The first byte picks split sizes and limits; the rest is the stream.
    public static func framer(_ input: [UInt8]) {
        guard let control = input.first else { return }
        let stream = input.dropFirst()
        let step = Int(control & 0x0F) + 1
        let limits = control & 0x10 != 0 ? TCPFraming.Limits.kx : TCPFraming.Limits(minimum: 1, maximum: 64)
        var reader = TCPFrameReader(limits: limits, extensionsAllowed: control & 0x20 != 0)
        var reply = StartTLSReplyReader(maximumErrorLength: 256)
        var consumed = 0
        var index = stream.startIndex
        while index < stream.endIndex {
            let end = stream.index(index, offsetBy: step, limitedBy: stream.endIndex) ?? stream.endIndex
            reader.append(stream[index..<end])
            _ = reply.append(stream[index..<end])
            while let event = reader.next() {
                if case .message(let m) = event {
                    precondition(m.count >= limits.minimum && m.count <= limits.maximum, "frame outside limits")
                    consumed += 4 + m.count
                }
            }
            index = end
        }
        precondition(consumed <= stream.count, "reader produced more than it was given")
    }
}
