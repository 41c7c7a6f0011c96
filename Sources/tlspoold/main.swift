// tlspoold: the TLS Pool as its own process, serving the PIOC V2 protocol on
// a UNIX socket (kxoverd can use it instead of its embedded pool).
@preconcurrency import Glibc
import Foundation
import KXDNS
import TLSPool

setvbuf(stdout, nil, _IOLBF, 0)

let options: Options
do {
    options = try Options(arguments: Array(CommandLine.arguments.dropFirst()))
} catch let failure as Options.Failure where failure.isHelp {
    print(failure.description)
    exit(0)
} catch {
    FileHandle.standardError.write(Data("tlspoold: \(error)\n".utf8))
    exit(2)
}

// Block the stop signals before any pool thread exists (threads inherit the
// mask), then wait for them on the main thread.
var stopSignals = sigset_t()
sigemptyset(&stopSignals)
for signal in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&stopSignals, signal) }
pthread_sigmask(SIG_BLOCK, &stopSignals, nil)

let verbose = options.verbose
let pinned = StaticTLSAResolver(options.tlsa.mapValues { .secure($0) })
var tlsaResolver: any TLSAResolver = pinned
if options.usesDNSSEC {
    do {
        // The resolver runs on a loop thread of its own; pool sessions get its answers by completion, bounded.
        let timeout = options.resolver.queryTimeout + 1
        let anchorZones = TrustAnchorPriming.zones(of: options.resolver)
        let dnssec = try ResolverThread.start(configuration: options.resolver, name: "tlsa-resolver") { resolver, executor in
            // As kxoverd: the validator's first step now, and a word if the anchor does not validate.
            TrustAnchorPriming.prime(anchorZones, resolver: resolver) { outcome in
                if outcome.validated { print("tlspoold: \(outcome.logLine)") }
                else { FileHandle.standardError.write(Data("tlspoold: warning: \(outcome.logLine)\n".utf8)) }
            }
            return LoopTLSAResolver(resolver: resolver, executor: executor, timeout: timeout)
        }
        tlsaResolver = PinnedThenDNSSEC(pinned: options.tlsa, dnssec: dnssec)
    } catch {
        FileHandle.standardError.write(Data("tlspoold: resolver: \(error)\n".utf8))
        exit(1)
    }
}
var configuration = TLSPoolConfiguration(identities: options.identities, tlsaResolver: tlsaResolver)
configuration.log = { message in
    if verbose { FileHandle.standardError.write(Data("tlspoold: \(message)\n".utf8)) }
}

let pool: TLSPoolServer
do {
    pool = try TLSPoolServer(configuration: configuration)
    try pool.listen(path: options.socketPath, mode: options.socketMode)
    if let group = options.socketGroup {
        guard let entry = getgrnam(group) else { throw Options.Failure(description: "--group \(group): no such group") }
        guard chown(options.socketPath, uid_t.max, entry.pointee.gr_gid) == 0 else {
            throw Options.Failure(description: "--group \(group): chown \(options.socketPath): \(String(cString: strerror(errno)))")
        }
    }
} catch {
    FileHandle.standardError.write(Data("tlspoold: \(error)\n".utf8))
    exit(1)
}
print("tlspoold: serving \(options.socketPath) for \(options.identities.map(\.localID).joined(separator: ", "))")

var received: Int32 = 0
sigwait(&stopSignals, &received)
pool.shutdown()
print("tlspoold: stopped")

/// Pinned TLSA for the hosts given with --tlsa, DNSSEC for every other host.
struct PinnedThenDNSSEC: TLSAResolver {
    let pinned: [String: [TLSARecord]]
    let dnssec: any TLSAResolver

    func tlsa(forHost host: String, completion: @escaping @Sendable (TLSALookup) -> Void) {
        if let records = pinned[host.lowercased()] { return completion(.secure(records)) }
        dnssec.tlsa(forHost: host, completion: completion)
    }
}
