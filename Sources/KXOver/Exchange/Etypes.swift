/// The encryption types KXOVER may derive keys for (spec §6.4): all have an
/// identity random-to-key, so their key-generation seed length equals the key
/// length. DES, 3DES and RC4 are deliberately absent.
public enum Etype {
    public struct Info: Sendable, Hashable {
        public let number: Int32
        public let name: String
        /// RFC 3961 random-to-key input length in bytes.
        public let seedLength: Int
    }

    public static let all: [Info] = [
        Info(number: 17, name: "aes128-cts-hmac-sha1-96", seedLength: 16),
        Info(number: 18, name: "aes256-cts-hmac-sha1-96", seedLength: 32),
        Info(number: 19, name: "aes128-cts-hmac-sha256-128", seedLength: 16),
        Info(number: 20, name: "aes256-cts-hmac-sha384-192", seedLength: 32),
        Info(number: 25, name: "camellia128-cts-cmac", seedLength: 16),
        Info(number: 26, name: "camellia256-cts-cmac", seedLength: 32),
    ]

    public static func info(_ number: Int32) -> Info? {
        all.first { $0.number == number }
    }

    public static func info(named name: String) -> Info? {
        all.first { $0.name == name }
    }

    public static func name(_ number: Int32) -> String {
        info(number)?.name ?? "etype-\(number)"
    }

    /// Longest seed of any supported etype: the salt we send (spec §9 #3).
    public static let maximumSeedLength = 32
}
