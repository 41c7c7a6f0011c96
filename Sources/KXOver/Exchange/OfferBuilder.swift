/// Builds the two offers (spec §8.2 C8 and §8.3 S4). Time and randomness come
/// in as arguments, so the result is reproducible in tests.
public enum OfferBuilder {
    /// The client's KX-REQ offer, valid from `now` (spec §5.5 rule 4: MIT
    /// uses a key the moment it is written, so a later `from` would delay
    /// nothing; peers refuse one more than the clock skew ahead).
    public static func request(clientRealm: String, serviceRealm: String, now: KerberosTime, salt: [UInt8],
                               kvno: UInt32, etypes: [Int32], lifetime: Int64 = LifetimePolicy.defaultLifetime) -> KXOffer {
        KXOffer(requestTime: now, salt: salt,
                kxName: .crossover(client: clientRealm, service: serviceRealm),
                kvno: kvno, etypes: etypes.sorted(), from: now, till: now.adding(seconds: lifetime),
                myName: .kdc(of: clientRealm))
    }

    /// The server's KX-REP offer answering `request`: the same request-time and
    /// kx-name, the server's own salt, kvno, etypes and interval.
    /// `request` has passed OfferChecks.checkRequest: its `from` is at most
    /// the clock skew ahead, so the reply's interval ends within the skew of
    /// now plus `lifetime`.
    public static func reply(to request: KXOffer, serviceRealm: String, now: KerberosTime, salt: [UInt8],
                             kvno: UInt32, etypes: [Int32], lifetime: Int64 = LifetimePolicy.defaultLifetime) -> KXOffer {
        let start = max(now, request.from)
        return KXOffer(requestTime: request.requestTime, salt: salt, kxName: request.kxName,
                       kvno: kvno, etypes: etypes.sorted(), from: start, till: start.adding(seconds: lifetime),
                       myName: .kdc(of: serviceRealm))
    }
}
