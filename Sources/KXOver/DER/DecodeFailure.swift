/// Where and why a strict decode failed: the field's dotted path and the byte
/// offset (from the start of the decoded buffer) of the element at fault.
public struct DecodeFailure: Error, Equatable, Hashable, Sendable, CustomStringConvertible {
    public var field: String
    public var offset: Int
    public var reason: String

    public init(field: String, offset: Int, reason: String) {
        self.field = field
        self.offset = offset
        self.reason = reason
    }

    /// This failure seen from an enclosing value named `name`.
    public func under(_ name: String) -> DecodeFailure {
        guard !name.isEmpty else { return self }
        return DecodeFailure(field: field.isEmpty ? name : "\(name).\(field)", offset: offset, reason: reason)
    }

    public var description: String { "\(field) at byte \(offset): \(reason)" }
}
