import CUnbound
import Foundation
import KXDNS
import KXEventLoop
import KXOver

// Resolver benchmark, warm cache: validated A lookups of 100 names through
// our loop-driven UnboundResolver (async, callbacks via ub_process on the
// loop) against libunbound's own synchronous ub_resolve on a context of the
// same configuration, measured in the same run. Bounded: fixed rounds.

@MainActor
func benchmark() throws {
    let arguments = CommandLine.arguments
    guard arguments.count >= 3 else {
        print("usage: kxover-dns-bench TRUST_ANCHOR FORWARD_ADDRESS [ROUNDS]")
        exit(2)
    }
    let rounds = arguments.count > 3 ? Int(arguments[3]) ?? 50 : 50
    let names = (1...100).map { "h\($0).service.test" }
    let configuration = ResolverConfiguration(trustAnchors: [arguments[1]], forwarders: [arguments[2]],
                                              options: [.init("local-zone:", "test. transparent")])

    func seconds(_ body: () -> Void) -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    // Ours: all 100 in flight at once per round, completions on the loop thread.
    let loop = try EventLoop()
    let resolver = try UnboundResolver(configuration: configuration, loop: loop)
    var secure = 0
    func round() {
        var done = 0
        for name in names {
            resolver.query(name, .a) { result in
                if case .success(let answer) = result, answer.security == .secure { secure += 1 }
                done += 1
            }
        }
        _ = loop.run(until: { done == names.count }, timeout: 30)
    }
    round()   // warm the cache
    secure = 0
    let ours = seconds { for _ in 0..<rounds { round() } }
    guard secure == rounds * names.count else { print("only \(secure) secure answers"); exit(1) }

    // Baseline: the same lookups with ub_resolve, synchronous, one context.
    let context = ub_ctx_create()!
    _ = ub_ctx_set_option(context, "do-not-query-localhost:", "no")
    _ = ub_ctx_set_option(context, "local-zone:", "test. transparent")
    _ = ub_ctx_add_ta(context, arguments[1])
    _ = ub_ctx_set_fwd(context, arguments[2])
    func syncRound() {
        for name in names {
            var result: UnsafeMutablePointer<ub_result>?
            if ub_resolve(context, name, 1, 1, &result) == 0, let result { ub_resolve_free(result) }
        }
    }
    syncRound()
    let baseline = seconds { for _ in 0..<rounds { syncRound() } }
    ub_ctx_delete(context)

    let total = Double(rounds * names.count)
    print("resolver, warm cache (\(names.count) names x \(rounds) rounds, DNSSEC-validated A)")
    print("  measurement                                lookups/s   ratio to ub_resolve")
    print("  libunbound ub_resolve, sync (baseline)     \(String(Int(total / baseline)).padding(toLength: 10, withPad: " ", startingAt: 0))  1.0")
    print("  UnboundResolver through the event loop     \(String(Int(total / ours)).padding(toLength: 10, withPad: " ", startingAt: 0))  \(String(format: "%.2f", baseline / ours))")

}

try benchmark()
