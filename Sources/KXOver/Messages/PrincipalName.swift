import SwiftASN1

/// Kerberos name types used here (RFC 4120 §6.2).
public enum NameType {
    public static let unknown: Int32 = 0
    public static let principal: Int32 = 1
    public static let serviceInstance: Int32 = 2   // NT-SRV-INST: krbtgt/REALM
    public static let serviceHost: Int32 = 3       // NT-SRV-HST: service/host
    public static let serviceXHost: Int32 = 4      // NT-SRV-XHST
}

/// PrincipalName ::= SEQUENCE { name-type [0] Int32, name-string [1] SEQUENCE OF KerberosString }
public struct PrincipalName: Hashable, Sendable, CustomStringConvertible {
    public var nameType: Int32
    public var components: [String]

    public init(nameType: Int32, components: [String]) {
        self.nameType = nameType
        self.components = components
    }

    /// `krbtgt/REALM`, name-type NT-SRV-INST.
    public static func krbtgt(_ realm: String) -> PrincipalName {
        PrincipalName(nameType: NameType.serviceInstance, components: ["krbtgt", realm])
    }

    /// The realm X when this is `krbtgt/X` with exactly two components.
    public var krbtgtRealm: String? {
        components.count == 2 && components[0] == "krbtgt" ? components[1] : nil
    }

    public var description: String { components.joined(separator: "/") }

    static func decode(_ reader: inout DERReader, field: String, strict: Bool = true) throws -> PrincipalName {
        try reader.sequence(field: field) { seq in
            let nameType = try seq.explicit(0, field: "name-type") { try $0.int32(field: "name-type") }
            let components = try seq.explicit(1, field: "name-string") { inner -> [String] in
                if strict, Self.startsWithNestedSequence(inner) {
                    throw inner.failure("name-string is wrapped in an extra SEQUENCE (the 2019 reference encoding), not RFC 4120")
                }
                return try inner.sequenceOf(field: "name-string") { item, index in
                    try DERReader.item(index) { try item.kerberosString(field: "", strict: strict) }
                }
            }
            return PrincipalName(nameType: nameType, components: components)
        }
    }

    /// True when the SEQUENCE OF starts with another SEQUENCE rather than a string.
    private static func startsWithNestedSequence(_ reader: DERReader) -> Bool {
        var copy = reader
        guard let outer = try? copy.read(tag: 0x30, field: "name-string") else { return false }
        return copy.contents(of: outer).peekTag() == 0x30
    }

    func encode(into s: inout DER.Serializer) throws {
        try s.sequence { s in
            try s.explicit(0) { try $0.integer(nameType) }
            try s.explicit(1) { s in
                try s.sequence { s in
                    for component in components { s.kerberosString(component) }
                }
            }
        }
    }
}

/// KRB5PrincipalName ::= SEQUENCE { realm [0] Realm, principalName [1] PrincipalName } (RFC 4556).
public struct Principal: Hashable, Sendable, CustomStringConvertible {
    public var realm: String
    public var name: PrincipalName

    public init(realm: String, name: PrincipalName) {
        self.realm = realm
        self.name = name
    }

    /// `krbtgt/REALM@REALM`: how a KDC names itself in KXOVER.
    public static func kdc(of realm: String) -> Principal {
        Principal(realm: realm, name: .krbtgt(realm))
    }

    /// `krbtgt/SERVICE@CLIENT`: the crossover key's principal.
    public static func crossover(client: String, service: String) -> Principal {
        Principal(realm: client, name: .krbtgt(service))
    }

    /// The peer of a crossover principal in `local`'s KDB: X for
    /// `krbtgt/X@LOCAL` or `krbtgt/LOCAL@X` (X ≠ LOCAL); nil for anything else.
    public func crossoverPeer(local: String) -> String? {
        guard let instance = name.krbtgtRealm else { return nil }
        if realm == local, instance != local { return instance }
        if instance == local, realm != local { return realm }
        return nil
    }

    public var description: String { "\(name)@\(realm)" }

    static func decode(_ reader: inout DERReader, field: String) throws -> Principal {
        try reader.sequence(field: field) { seq in
            let realm = try seq.explicit(0, field: "realm") { try $0.kerberosString(field: "realm") }
            let name = try seq.explicit(1, field: "principalName") { try PrincipalName.decode(&$0, field: "principalName") }
            return Principal(realm: realm, name: name)
        }
    }

    func encode(into s: inout DER.Serializer) throws {
        try s.sequence { s in
            try s.explicit(0) { $0.kerberosString(realm) }
            try s.explicit(1) { try name.encode(into: &$0) }
        }
    }

    public var derEncoded: [UInt8] { derEncode { try encode(into: &$0) } }

    public init(derEncoded bytes: [UInt8]) throws {
        self = try DERReader.named("KRB5PrincipalName") {
            var reader = DERReader(bytes)
            let principal = try Principal.decode(&reader, field: "")
            try reader.expectEnd()
            return principal
        }
    }
}
