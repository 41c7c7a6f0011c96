import SwiftASN1

/// Thin helpers over swift-asn1's serializer for the Kerberos shapes:
/// EXPLICIT context tags, GeneralString and KerberosTime.
extension DER.Serializer {
    mutating func explicit(_ number: UInt, _ body: (inout DER.Serializer) throws -> Void) throws {
        try appendConstructedNode(identifier: ASN1Identifier(tagWithNumber: number, tagClass: .contextSpecific), body)
    }

    mutating func application(_ number: UInt, _ body: (inout DER.Serializer) throws -> Void) throws {
        try appendConstructedNode(identifier: ASN1Identifier(tagWithNumber: number, tagClass: .application), body)
    }

    mutating func sequence(_ body: (inout DER.Serializer) throws -> Void) throws {
        try appendConstructedNode(identifier: .sequence, body)
    }

    mutating func kerberosString(_ value: String) {
        appendPrimitiveNode(identifier: .generalString) { $0.append(contentsOf: value.utf8) }
    }

    mutating func kerberosTime(_ value: KerberosTime) {
        appendPrimitiveNode(identifier: .generalizedTime) { $0.append(contentsOf: value.generalizedTime.utf8) }
    }

    mutating func octetString(_ value: [UInt8]) {
        appendPrimitiveNode(identifier: .octetString) { $0.append(contentsOf: value) }
    }

    mutating func integer<I: FixedWidthInteger & ASN1IntegerRepresentable>(_ value: I) throws {
        try serialize(value)
    }
}

/// Encodes one value with a fresh serializer.
func derEncode(_ body: (inout DER.Serializer) throws -> Void) -> [UInt8] {
    var serializer = DER.Serializer()
    // The bodies here only append well-formed nodes; swift-asn1 throws only for
    // values it cannot represent, which our types rule out by construction.
    try! body(&serializer)
    return serializer.serializedBytes
}
