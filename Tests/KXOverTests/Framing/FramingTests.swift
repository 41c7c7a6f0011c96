import Testing
import KXOver

@Suite("Kerberos TCP framing")
struct FramingTests {
    /// Feeds `bytes` in chunks of `step` and collects every event.
    static func events(_ bytes: [UInt8], step: Int, limits: TCPFraming.Limits = .kx, extensions: Bool = true) -> [TCPFrameReader.Event] {
        var reader = TCPFrameReader(limits: limits, extensionsAllowed: extensions)
        var out: [TCPFrameReader.Event] = []
        var i = 0
        while i < bytes.count {
            reader.append(bytes[i..<min(i + step, bytes.count)])
            i += step
            while let event = reader.next() { out.append(event) }
        }
        return out
    }

    static let request = Vectors.load("syn-kx-req-conformant.der")
    static let reply = Vectors.load("syn-kx-rep.der")

    @Test(arguments: [1, 2, 3, 4, 5, 7, 64, 1000])
    func messagesInAnySplit(step: Int) {
        let stream = TCPFraming.frame(Self.request) + TCPFraming.frame(Self.reply)
        #expect(Self.events(stream, step: step) == [.message(Self.request), .message(Self.reply)])
    }

    @Test func startTLSStopsTheReaderAndKeepsWhatFollows() {
        let clientHello: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]
        var reader = TCPFrameReader(limits: .kdcRelay)
        for byte in TCPFraming.startTLSRequest + clientHello {
            reader.append([byte])
            if let event = reader.next() { #expect(event == .startTLS) }
        }
        #expect(reader.isStopped)
        #expect(reader.next() == nil)
        #expect(reader.takeBuffered() == clientHello)
    }

    @Test func probeAndUnknownFlagsAreTerminal() {
        #expect(Self.events(TCPFraming.probe + TCPFraming.frame(Self.request), step: 1) == [.probe])
        #expect(Self.events([0x80, 0x00, 0x00, 0x02], step: 1) == [.unsupportedExtensions(2)])
        #expect(Self.events([0x80, 0x00, 0x00, 0x03], step: 4) == [.unsupportedExtensions(3)])
        #expect(Self.events([0xFF, 0xFF, 0xFF, 0xFF], step: 2) == [.unsupportedExtensions(0x7FFF_FFFF)])
    }

    @Test func insideTLSNoExtensionIsAllowed() {
        #expect(Self.events(TCPFraming.startTLSRequest, step: 1, extensions: false) == [.unsupportedExtensions(1)])
        #expect(Self.events(TCPFraming.probe, step: 1, extensions: false) == [.unsupportedExtensions(0)])
    }

    /// Ordinary KDC traffic: 128 KiB, enough for a TGS-REQ with two tickets
    /// carrying PACs of Windows' largest token size, and no more.
    @Test func kdcRelayFramesFitAKerberosRequestAndNoMore() {
        #expect(TCPFraming.Limits.kdcRelay.maximum == 131_072)
        // Two tickets with 64,000-octet PACs, and the authenticator.
        let twoBigTickets = Array(repeating: UInt8(0x6C), count: 2 * 64_000 + 2_000)
        let events = Self.events(TCPFraming.frame(twoBigTickets), step: 8192, limits: .kdcRelay)
        #expect(events.count == 1 && events.first == .message(twoBigTickets), "\(events.count) events")
        #expect(Self.events(TCPFraming.bigEndian(131_073), step: 4, limits: .kdcRelay) == [.tooLong(131_073)])
        #expect(Self.events(TCPFraming.bigEndian(1_048_572), step: 4, limits: .kdcRelay) == [.tooLong(1_048_572)], "MIT's 1 MiB is refused")
    }

    @Test func lengthLimits() {
        #expect(Self.events([0x00, 0x00, 0x40, 0x01], step: 1) == [.tooLong(16_385)])
        #expect(Self.events([0x7F, 0xFF, 0xFF, 0xFF], step: 4) == [.tooLong(0x7FFF_FFFF)])
        #expect(Self.events([0x00, 0x00, 0x00, 0x09] + Array(repeating: 0, count: 9), step: 3) == [.tooShort(9)])
        #expect(Self.events([0x00, 0x00, 0x00, 0x00], step: 1) == [.tooShort(0)])
        // Exactly the cap is accepted.
        let big = Array(repeating: UInt8(7), count: 16_384)
        #expect(Self.events(TCPFraming.frame(big), step: 4096) == [.message(big)])
    }

    @Test func incompleteFramesWait() {
        var reader = TCPFrameReader(limits: .kx)
        let framed = TCPFraming.frame(Self.request)
        reader.append(framed.dropLast())
        #expect(reader.next() == nil)
        reader.append(framed.suffix(1))
        #expect(reader.next() == .message(Self.request))
        #expect(reader.bufferedCount == 0)
    }

    @Test func refusalIsAFramedKRBError61WithTheSupportedBitmask() throws {
        let now = try KerberosTime("20261128120000Z")
        let framed = TCPFraming.fieldTooLongRefusal(realm: "CLIENT.TEST", now: now, text: "extension not supported")
        let length = framed[0..<4].reduce(0) { $0 << 8 | Int($1) }
        #expect(length == framed.count - 4)
        #expect(framed[4] == 0x7E)
        let error = try KRBError(derEncoded: Array(framed[4...]))
        #expect(error.errorCode == 61)
        #expect(error.eData == [0, 0, 0, 1])
        #expect(error.sname == .krbtgt("CLIENT.TEST"))
        #expect(error.derEncoded == Array(framed[4...]))
    }

    @Test func startTLSReplyOutcomes() throws {
        var reader = StartTLSReplyReader()
        #expect(reader.append([0x00, 0x00]) == nil)
        #expect(reader.append([0x00, 0x00]) == .accepted)
        #expect(reader.trailing == 0)

        // A legacy KDC refuses with a framed KRB-ERROR 61, delivered in pieces.
        let refusal = TCPFraming.fieldTooLongRefusal(realm: "R.TEST", now: try KerberosTime("20261128120000Z"), text: "no")
        reader = StartTLSReplyReader()
        var outcome: StartTLSReplyReader.Outcome?
        for byte in refusal { outcome = reader.append([byte]) ?? outcome }
        guard case .refused(let error)? = outcome else { Issue.record("not refused: \(String(describing: outcome))"); return }
        #expect(error?.errorCode == 61)

        reader = StartTLSReplyReader()
        #expect(reader.append([0x80, 0x00, 0x00, 0x01]) == .nonstandard(0x8000_0001))
        reader = StartTLSReplyReader()
        #expect(reader.append([0x00, 0x10, 0x00, 0x00]) == .oversized(0x100000))
        reader = StartTLSReplyReader()
        #expect(reader.append([0x00, 0x00, 0x00, 0x03, 0xAA, 0xBB, 0xCC]) == .refused(nil))
        reader = StartTLSReplyReader()
        #expect(reader.append([0x00, 0x00, 0x00, 0x00, 0x16]) == .accepted)
        #expect(reader.trailing == 1)
    }

    @Test func randomStreamsNeverCrashTheReader() {
        var random = SeededRandom(seed: 5021)
        for _ in 0..<2_000 {
            let bytes = random.bytes(Int.random(in: 0...64, using: &random))
            let step = Int.random(in: 1...8, using: &random)
            for event in Self.events(bytes, step: step) {
                if case .message(let m) = event { #expect(m.count >= 10 && m.count <= 16_384) }
            }
        }
    }
}
