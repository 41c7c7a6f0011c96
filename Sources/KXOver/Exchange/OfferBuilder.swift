/// Builds the two offers (spec §8.2 C8 and §8.3 S4). Time and randomness come
/// in as arguments, so the result is reproducible in tests.
public enum OfferBuilder {
    /// The client's KX-REQ offer. `from` defaults to `now`; a later `from`
    /// prepares a renewal that both sides switch to at the same moment.
    public static func request(clientRealm: String, serviceRealm: String, now: KerberosTime, salt: [UInt8],
                               kvno: UInt32, etypes: [Int32], lifetime: Int64 = LifetimePolicy.defaultLifetime,
                               from: KerberosTime? = nil) -> KXOffer {
        let start = max(from ?? now, now)
        return KXOffer(requestTime: now, salt: salt,
                       kxName: .crossover(client: clientRealm, service: serviceRealm),
                       kvno: kvno, etypes: etypes.sorted(), from: start, till: start.adding(seconds: lifetime),
                       myName: .kdc(of: clientRealm))
    }

    /// The server's KX-REP offer answering `request`: the same request-time and
    /// kx-name, the server's own salt, kvno, etypes and interval.
    public static func reply(to request: KXOffer, serviceRealm: String, now: KerberosTime, salt: [UInt8],
                             kvno: UInt32, etypes: [Int32], lifetime: Int64 = LifetimePolicy.defaultLifetime) -> KXOffer {
        let start = max(now, request.from)
        return KXOffer(requestTime: request.requestTime, salt: salt, kxName: request.kxName,
                       kvno: kvno, etypes: etypes.sorted(), from: start, till: start.adding(seconds: lifetime),
                       myName: .kdc(of: serviceRealm))
    }
}
