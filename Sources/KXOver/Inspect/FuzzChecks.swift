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
