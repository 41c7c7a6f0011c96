import KXOver

/// The property the `keeper` fuzz target (and its regression replay)
/// checks: the keeper's decoder never traps on any bytes; a request it
/// accepts encodes back to bytes that decode to the same request; the frame
/// reader never yields a frame outside its bounds, however the bytes are split;
/// and the keeper's rules decide every decoded request without trapping.
public enum KeeperFuzz {
    public static func request(_ input: [UInt8]) {
        if let envelope = try? KeeperWire.decodeRequest(input) {
            let again = KeeperWire.encode(envelope)
            precondition(Array(again.dropFirst(4)) == input, "a decoded keeper request does not re-encode to its bytes")
            var rules = KeeperRules(localRealms: ["LOCAL.TEST"], storesPerMinute: 10)
            _ = rules.refusal(of: envelope.body, now: KerberosTime(secondsSinceEpoch: 1_800_000_000)!)
            _ = envelope.body.summary
        }
        _ = try? KeeperWire.decodeReply(input)
        var reader = KeeperFrameReader()
        let split = input.isEmpty ? 0 : Int(input[0]) % (input.count + 1)
        for part in [input[..<split], input[split...]] {
            guard let frames = try? reader.feed(part) else { return }
            for frame in frames {
                precondition((KeeperWire.minimumFrame...KeeperWire.maximumFrame).contains(frame.count), "a frame outside its bounds")
            }
        }
    }
}
