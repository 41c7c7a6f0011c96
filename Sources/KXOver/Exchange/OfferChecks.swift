/// The receivers' checklists (spec §5.5). Each failure names the rule it broke.
public enum OfferChecks {
    /// The realms a valid KX-REQ names.
    public struct Realms: Hashable, Sendable {
        public let client: String
        public let service: String

        public init(client: String, service: String) {
            self.client = client
            self.service = service
        }
    }

    /// Extension OIDs we understand. None today (spec §5.4): every critical
    /// extension is refused and every non-critical one ignored.
    public static let knownExtensions: Set<String> = []

    public static let maximumSaltLength = 64

    /// Decodes a framed message's body as the expected kind, mapping failures
    /// to TRANSPORT (envelope) or OFFER (inside KX-OFFER).
    public static func decode(_ bytes: [UInt8], expecting kind: KXMessage.Kind) throws -> KXMessage {
        do {
            return try KXMessage(derEncoded: bytes, expecting: kind)
        } catch let failure as DecodeFailure {
            let inOffer = failure.field.hasPrefix("\(kind.name).offer")
            throw KXError(inOffer ? .offer : .transport, failure.description, decodeFailure: failure)
        }
    }

    /// Server side, on KX-REQ: rules 2–6. Certificate, DNSSEC and host checks
    /// (rule 7) need I/O and run in the exchange's later stages.
    public static func checkRequest(_ offer: KXOffer, now: KerberosTime,
                                    maximumLifetime: Int64 = LifetimePolicy.maximumAccepted) throws -> Realms {
        guard let service = offer.kxName.name.krbtgtRealm else {
            throw KXError(.offerPrincipal, "kx-name \(offer.kxName.name) is not krbtgt/REALM")
        }
        guard let client = offer.myName.name.krbtgtRealm else {
            throw KXError(.offerPrincipal, "my-name \(offer.myName.name) is not krbtgt/REALM")
        }
        guard offer.myName.realm == client else {
            throw KXError(.offerRealm, "my-name realm \(offer.myName.realm) differs from its krbtgt/\(client)")
        }
        guard offer.kxName.realm == client else {
            throw KXError(.offerRealm, "kx-name realm \(offer.kxName.realm) is not the client realm \(client)")
        }
        guard client != service else {
            throw KXError(.offerRealm, "client and service realm are both \(client)")
        }
        for realm in [client, service] where !RealmName.isValid(realm) {
            throw KXError(.offerRealm, "realm \"\(realm)\" is not an upper-case DNS-style name")
        }
        try checkNameTypes(offer)
        try checkInterval(offer, earliestFrom: offer.requestTime, latestFrom: offer.requestTime.adding(seconds: LifetimePolicy.clockSkew),
                          latestTill: now.adding(seconds: maximumLifetime + LifetimePolicy.clockSkew), maximumLifetime: maximumLifetime)
        let skew = abs(offer.requestTime.secondsSinceEpoch - now.secondsSinceEpoch)
        guard skew <= LifetimePolicy.clockSkew else {
            throw KXError(.offerTiming, "request-time \(offer.requestTime) is \(skew) s away from our clock (limit \(LifetimePolicy.clockSkew) s)")
        }
        try checkCommon(offer)
        return Realms(client: client, service: service)
    }

    /// Client side, on KX-REP answering `request` (whose realms we chose), at `now`.
    public static func checkReply(_ reply: KXOffer, request: KXOffer, now: KerberosTime,
                                  maximumLifetime: Int64 = LifetimePolicy.maximumAccepted) throws {
        guard reply.requestTime == request.requestTime else {
            throw KXError(.mergeTiming, "KX-REP request-time \(reply.requestTime) does not echo \(request.requestTime)")
        }
        guard reply.kxName.realm == request.kxName.realm else {
            throw KXError(.mergeRealm, "KX-REP kx-name realm \(reply.kxName.realm) differs from \(request.kxName.realm)")
        }
        guard reply.kxName.name.nameType == request.kxName.name.nameType else {
            throw KXError(.mergeNameType, "KX-REP kx-name name-type \(reply.kxName.name.nameType) differs from \(request.kxName.name.nameType)")
        }
        guard reply.kxName.name.components == request.kxName.name.components else {
            throw KXError(.mergePrincipal, "KX-REP kx-name \(reply.kxName.name) differs from \(request.kxName.name)")
        }
        guard let service = request.kxName.name.krbtgtRealm else {
            throw KXError(.offerPrincipal, "our own kx-name is not krbtgt/REALM")
        }
        guard let replier = reply.myName.name.krbtgtRealm, replier == service else {
            throw KXError(.offerPrincipal, "KX-REP my-name \(reply.myName.name) is not krbtgt/\(service)")
        }
        guard reply.myName.realm == service else {
            throw KXError(.offerRealm, "KX-REP my-name realm \(reply.myName.realm) is not \(service)")
        }
        try checkNameTypes(reply)
        // The server's clock may run behind or ahead of ours: allow the usual skew.
        try checkInterval(reply, earliestFrom: request.requestTime.adding(seconds: -LifetimePolicy.clockSkew),
                          latestFrom: max(request.from, request.requestTime).adding(seconds: LifetimePolicy.clockSkew),
                          latestTill: now.adding(seconds: maximumLifetime + LifetimePolicy.clockSkew), maximumLifetime: maximumLifetime)
        guard KvnoPolicy.isAcceptable(reply.kvno) else {
            throw KXError(.offerKvno, "KX-REP kvno \(reply.kvno) is outside 2...32767")
        }
        try checkCommon(reply)
    }

    static func checkNameTypes(_ offer: KXOffer) throws {
        for (field, name) in [("kx-name", offer.kxName), ("my-name", offer.myName)]
        where name.name.nameType != NameType.serviceInstance {
            throw KXError(.offerNameType, "\(field) has name-type \(name.name.nameType), expected 2 (NT-SRV-INST)")
        }
    }

    /// Spec §5.5 rule 4: the interval starts no earlier than the request and
    /// no later than the request plus the clock skew (MIT uses a key the
    /// moment it is written, so a later `from` delays nothing and could only
    /// stretch the recorded `till`), and ends within the maximum lifetime of
    /// now.
    static func checkInterval(_ offer: KXOffer, earliestFrom: KerberosTime, latestFrom: KerberosTime,
                              latestTill: KerberosTime, maximumLifetime: Int64) throws {
        guard earliestFrom <= offer.from else {
            throw KXError(.offerTiming, "from \(offer.from) is before request-time \(earliestFrom)")
        }
        guard offer.from <= latestFrom else {
            throw KXError(.offerTiming, "from \(offer.from) is later than \(latestFrom) (request-time plus \(LifetimePolicy.clockSkew) s)")
        }
        guard offer.till <= latestTill else {
            throw KXError(.offerTiming, "till \(offer.till) is later than \(latestTill) (now plus the maximum lifetime)")
        }
        guard offer.from < offer.till else {
            throw KXError(.offerTiming, "till \(offer.till) is not after from \(offer.from)")
        }
        let length = offer.till.secondsSinceEpoch - offer.from.secondsSinceEpoch
        guard length <= maximumLifetime else {
            throw KXError(.offerTiming, "lifetime of \(length / 86_400) days exceeds the local maximum of \(maximumLifetime / 86_400)")
        }
    }

    static func checkCommon(_ offer: KXOffer) throws {
        for (i, pair) in zip(offer.etypes, offer.etypes.dropFirst()).enumerated() where pair.0 >= pair.1 {
            throw KXError(.offerEtypes, "etypes are not strictly rising at position \(i + 1) (\(pair.0), \(pair.1))")
        }
        guard offer.salt.count <= maximumSaltLength else {
            throw KXError(.offerSalt, "salt of \(offer.salt.count) bytes exceeds \(maximumSaltLength)")
        }
        for ext in offer.extensions where ext.critical && !knownExtensions.contains(ext.oid.description) {
            throw KXError(.offerExtension, "unknown critical extension \(ext.oid)")
        }
    }
}
