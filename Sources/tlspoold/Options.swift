import Foundation
import KXDNS
import TLSPool

/// tlspoold's command line (kept to plain CommandLine: a handful of options).
struct Options {
    var socketPath = "/run/kxover/tlspool.sock"
    var socketMode: mode_t = 0o660
    /// The socket's group: kxoverd's engine (kxover_user) connects through it.
    var socketGroup: String?
    var identities: [TLSPoolConfiguration.Identity] = []
    var tlsa: [String: [TLSARecord]] = [:]
    /// DNSSEC for DANE: TLSA from this resolver for hosts not pinned with --tlsa.
    var resolver = ResolverConfiguration()
    var usesDNSSEC: Bool { !resolver.trustAnchors.isEmpty || !resolver.trustAnchorFiles.isEmpty }
    var verbose = false

    static let usage = """
        usage: tlspoold --identity LOCALID=CERT.pem,KEY.pem [--identity ...]
                        [--socket PATH] [--mode OCTAL] [--group NAME]
                        [--peer-trust-anchors LOCALID=FILE.pem]... [--tlsa HOST="U S M HEX"]... [--tlsa-file FILE] [--verbose]

          --identity   a local identity (KDC host name) with its PEM certificate chain and key
          --socket     the UNIX socket to serve (default /run/kxover/tlspool.sock)
          --mode       its permissions (default 0660)
          --group      its group (e.g. kxover, the group of kxoverd's engine)
          --peer-trust-anchors LOCALID=FILE.pem
                       federation roots: a peer of LOCALID must also chain to one (beside DANE)
          --tlsa       a TLSA record for HOST, trusted as DNSSEC-secure (testing and pinning)
          --tlsa-file  lines of "HOST USAGE SELECTOR MATCHING-TYPE HEX" ('#' comments)
          --dns-trust-anchor TEXT / --dns-trust-anchor-file FILE
                       validate TLSA at _88._tcp.HOST with DNSSEC (libunbound) for hosts not pinned
          --dns-forward ADDR[@PORT], --dns-option "name: value"   resolver settings
          -v, --verbose  log each session to standard error
          -h, --help     this text
        Hosts without TLSA records are refused: DANE is required.
        SIGTERM, SIGINT or SIGHUP stops the pool.
        """

    struct Failure: Error, CustomStringConvertible {
        let description: String
        var isHelp = false
    }

    /// --peer-trust-anchors LOCALID=FILE, applied to the identities once all are read.
    private var anchors: [(String, String)] = []

    init(arguments: [String]) throws {
        var rest = arguments[...]
        func value(_ option: String) throws -> String {
            guard let next = rest.popFirst() else { throw Failure(description: "\(option) needs a value") }
            return next
        }
        while let option = rest.popFirst() {
            switch option {
            case "--socket": socketPath = try value(option)
            case "--mode":
                let text = try value(option)
                guard let mode = mode_t(text, radix: 8) else { throw Failure(description: "--mode \(text) is not octal") }
                socketMode = mode
            case "--group": socketGroup = try value(option)
            case "--peer-trust-anchors":
                let text = try value(option)
                guard let equals = text.firstIndex(of: "="), equals != text.startIndex, text.index(after: equals) != text.endIndex else {
                    throw Failure(description: "--peer-trust-anchors wants LOCALID=FILE.pem, not \(text)")
                }
                anchors.append((String(text[..<equals]), String(text[text.index(after: equals)...])))
            case "--identity": identities.append(try Self.identity(try value(option)))
            case "--tlsa":
                let (host, record) = try Self.tlsa(try value(option), separator: "=")
                tlsa[host, default: []].append(record)
            case "--tlsa-file":
                for (host, record) in try Self.tlsaFile(try value(option)) { tlsa[host, default: []].append(record) }
            case "--dns-trust-anchor": resolver.trustAnchors.append(try value(option))
            case "--dns-trust-anchor-file": resolver.trustAnchorFiles.append(try value(option))
            case "--dns-forward": resolver.forwarders.append(try value(option))
            case "--dns-option":
                let text = try value(option)
                guard let colon = text.firstIndex(of: ":") else { throw Failure(description: "--dns-option wants \"name: value\"") }
                resolver.options.append(.init(String(text[...colon]), String(text[text.index(after: colon)...]).trimmingCharacters(in: .whitespaces)))
            case "--verbose", "-v": verbose = true
            case "--help", "-h": throw Failure(description: Self.usage, isHelp: true)
            default: throw Failure(description: "unknown option \(option)\n\(Self.usage)")
            }
        }
        guard !identities.isEmpty else { throw Failure(description: "at least one --identity is needed\n\(Self.usage)") }
        for (localID, file) in anchors {
            guard let index = identities.firstIndex(where: { $0.localID.lowercased() == localID.lowercased() }) else {
                throw Failure(description: "--peer-trust-anchors \(localID): no --identity \(localID)")
            }
            identities[index].peerTrustAnchorsFile = file
        }
    }

    /// LOCALID=CERT,KEY
    private static func identity(_ text: String) throws -> TLSPoolConfiguration.Identity {
        let parts = text.split(separator: "=", maxSplits: 1)
        let files = parts.count == 2 ? parts[1].split(separator: ",") : []
        guard parts.count == 2, files.count == 2 else { throw Failure(description: "--identity wants LOCALID=CERT,KEY, not \(text)") }
        return .init(localID: String(parts[0]), certificateFile: String(files[0]), keyFile: String(files[1]))
    }

    private static func tlsa(_ text: String, separator: Character) throws -> (String, TLSARecord) {
        let parts = text.split(separator: separator, maxSplits: 1)
        guard parts.count == 2, let record = TLSARecord(presentation: String(parts[1])) else {
            throw Failure(description: "bad TLSA \"\(text)\" (want HOST\(separator)USAGE SELECTOR TYPE HEX)")
        }
        return (String(parts[0]).lowercased(), record)
    }

    private static func tlsaFile(_ path: String) throws -> [(String, TLSARecord)] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return try text.split(separator: "\n").compactMap { line in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#") else { return nil }
            return try tlsa(trimmed, separator: " ")
        }
    }
}
