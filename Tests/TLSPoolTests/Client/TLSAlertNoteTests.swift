import Foundation
import Testing
@testable import TLSPool

@Suite("TLS alert notes and ended sessions")
struct TLSAlertNoteTests {
    @Test func notesRoundTripThroughMessages() {
        let note = TLSAlertNote(.received, code: 45, name: "certificate_expired")
        #expect(note.description == "received TLS alert 45 (certificate_expired)")
        #expect(TLSAlertNote(message: "session ended: \(note)") == note)
        #expect(TLSAlertNote(message: "sent TLS alert 48 (unknown_ca): DANE: no match") == TLSAlertNote(.sent, code: 48, name: "unknown_ca"))
        #expect(TLSAlertNote(message: "no live session with that ctlkey on this connection") == nil)
        #expect(TLSAlertNote(message: "received TLS alert x (y)") == nil)
        #expect(TLSAlertNote(message: "received TLS alert 300 (big)") == nil)
        #expect(note.isAboutCertificate && !TLSAlertNote(.received, code: 80, name: "internal_error").isAboutCertificate)
    }

    @Test func theNoteSurvivesTheRecordsMessageCut() {
        var record = TLSPoolRecord.error(.stirredNotShaken, "sent TLS alert 48 (unknown_ca): DANE: " + String(repeating: "x", count: 300))
        record = try! TLSPoolRecord(bytes: record.encoded())
        #expect(record.error.message.utf8.count == 127)
        #expect(TLSPoolError(record: record).alertToPeer == TLSAlertNote(.sent, code: 48, name: "unknown_ca"))
    }

    @Test func namesAreCleaned() {
        #expect(TLSAlertNote(.received, code: 42, name: "Bad Certificate\u{7}!").name == "badcertificate")
        #expect(TLSAlertNote(.received, code: 42, name: "").name == "unknown")
        #expect(TLSAlertNote(message: "received TLS alert 42 (\u{1B}[31m" + String(repeating: "a", count: 99) + ")")?.name.count == 40)
    }

    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func endedSessionsAreForTheirOwnerForAMinute() {
        var ended = EndedSessions()
        let owners = (NSObject(), NSObject())   // alive throughout: identifiers of freed objects may coincide
        let key = CtlKey.random(), owner = ObjectIdentifier(owners.0), other = ObjectIdentifier(owners.1)
        ended.remember(key, owner: owner, reason: "received TLS alert 48 (unknown_ca)", now: Self.start)
        #expect(ended.reason(for: key, requester: owner, now: Self.start.addingTimeInterval(59)) == "received TLS alert 48 (unknown_ca)")
        #expect(ended.reason(for: key, requester: other, now: Self.start) == nil)
        #expect(ended.reason(for: CtlKey.random(), requester: owner, now: Self.start) == nil)
        #expect(ended.reason(for: key, requester: owner, now: Self.start.addingTimeInterval(EndedSessions.lifetime)) == nil)
        #expect(ended.count == 0)
        withExtendedLifetime(owners) {}
    }

    @Test func endedSessionsAreBoundedAndForgottenWithTheirOwner() {
        var ended = EndedSessions()
        let owners = (NSObject(), NSObject())
        let owner = ObjectIdentifier(owners.0), other = ObjectIdentifier(owners.1)
        let keys = (0..<(EndedSessions.capacity + 5)).map { _ in CtlKey.random() }
        for key in keys { ended.remember(key, owner: owner, reason: "r", now: Self.start) }
        #expect(ended.count == EndedSessions.capacity)
        #expect(ended.reason(for: keys[0], requester: owner, now: Self.start) == nil)   // the oldest went first
        #expect(ended.reason(for: keys.last!, requester: owner, now: Self.start) == "r")
        let kept = CtlKey.random()
        ended.remember(kept, owner: other, reason: "s", now: Self.start)
        ended.forget(owner: owner)
        #expect(ended.count == 1 && ended.reason(for: kept, requester: other, now: Self.start) == "s")
        withExtendedLifetime(owners) {}
    }
}
